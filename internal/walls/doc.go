// Package walls holds the test that keeps the rooms of the code apart:
// which package may import which (walls_test.go). It has no code.
package walls
