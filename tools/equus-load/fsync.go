package main

import (
	"fmt"
	"io"
	"os"
	"slices"
	"time"
)

// runFsync measures the floor a durable commit pays on the filesystem of
// dir: each of writes operations writes syncs pages of 4 KiB into a file,
// each followed by its fdatasync, as bolt commits (its pages, then its
// meta page: two), and it prints the median, 90th and 99th percentile
// latency of an operation. The pages are written and synced once before,
// as bolt's file is grown ahead of its commits, so that a sync writes the
// data and not the file's new size. The file is removed at the end.
func runFsync(out io.Writer, dir string, writes, syncs int) error {
	f, err := os.CreateTemp(dir, "equus-load-fsync-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	const page = 4096
	buf := make([]byte, page)
	lat := make([]time.Duration, 0, writes)
	const span = 64 << 20 // the operations cycle through the first 64 MiB
	size := min(int64(writes)*int64(syncs)*page, span)
	if err := f.Truncate(size); err != nil {
		return err
	}
	for off := int64(0); off < size; off += page {
		if _, err := f.WriteAt(buf, off); err != nil {
			return err
		}
	}
	if err := f.Sync(); err != nil {
		return err
	}
	var off int64
	for range writes {
		t := time.Now()
		for range syncs {
			if _, err := f.WriteAt(buf, off); err != nil {
				return err
			}
			if err := fdatasync(f); err != nil {
				return err
			}
			off += page
		}
		lat = append(lat, time.Since(t))
		if off+int64(syncs)*page > size {
			off = 0
		}
	}
	slices.Sort(lat)
	at := func(p int) time.Duration { return lat[min(len(lat)*p/100, len(lat)-1)] }
	fmt.Fprintf(out, "%d operations of %d write+fdatasync of %d bytes in %s: p50 %v, p90 %v, p99 %v\n",
		writes, syncs, page, dir, at(50), at(90), at(99))
	return nil
}
