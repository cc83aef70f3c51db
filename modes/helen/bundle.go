package helen

import (
	"fmt"
	"os"
	"sync"

	"github.com/equus-monitoring/equus/update"
)

// bundleCache keeps the packed check bundle while the check directory
// stays as it was, so that a fleet reloading at once packs it once.
type bundleCache struct {
	mu    sync.Mutex
	stamp string
	data  []byte
	sum   string
}

// get returns the bundle of dir and its SHA-256, packing it again only
// when a file in dir changed (by name, size or time).
func (b *bundleCache) get(dir string) ([]byte, string, error) {
	stamp, err := dirStamp(dir)
	if err != nil {
		return nil, "", err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if stamp == b.stamp && b.data != nil {
		return b.data, b.sum, nil
	}
	data, sum, err := update.PackBundle(dir)
	if err != nil {
		return nil, "", err
	}
	b.stamp, b.data, b.sum = stamp, data, sum
	return data, sum, nil
}

// dirStamp describes the files of dir by names, sizes and times.
func dirStamp(dir string) (string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", err
	}
	stamp := ""
	for _, e := range entries {
		info, err := e.Info()
		if err != nil {
			continue
		}
		stamp += fmt.Sprintf("%s %d %d %v\n", e.Name(), info.Size(), info.ModTime().UnixNano(), info.Mode())
	}
	return stamp, nil
}
