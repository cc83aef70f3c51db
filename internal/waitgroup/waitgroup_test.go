package waitgroup

import (
	"sync"
	"testing"
	"time"
)

func TestWithin(t *testing.T) {
	var wg sync.WaitGroup
	if !Within(&wg, time.Hour) {
		t.Fatal("an empty group was not done")
	}
	wg.Add(1)
	if Within(&wg, time.Millisecond) {
		t.Fatal("a group with one running said it was done")
	}
	wg.Done()
	if !Within(&wg, time.Hour) {
		t.Fatal("a group whose work ended was not done")
	}
}
