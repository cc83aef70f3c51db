//go:build !linux

package main

import "os"

// fdatasync is an fsync where there is no fdatasync, as bolt does.
func fdatasync(f *os.File) error { return f.Sync() }
