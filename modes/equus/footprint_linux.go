package equus

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// mapping is a range of the process's address space, from /proc/self/smaps.
type mapping struct {
	start, end uint64
	rss        uint64 // bytes resident
}

// releaseImage unmaps the resident pages of the executable's read-only
// mappings (its code and read-only data): the kernel drops them from the
// process, not from the page cache, and maps again from there each page
// the process touches after. A mapping with pages of its own (Anonymous:
// a relocated read-only segment of a position-independent binary) is left
// alone, since unmapping would lose what was written. It returns the bytes
// that were resident in the mappings it released.
func releaseImage() (uint64, error) {
	var st syscall.Stat_t
	if err := syscall.Stat("/proc/self/exe", &st); err != nil {
		return 0, fmt.Errorf("the executable: %w", err)
	}
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		return 0, err
	}
	ms, err := imageMappings(f, uint64(st.Dev), st.Ino)
	f.Close()
	if err != nil {
		return 0, fmt.Errorf("/proc/self/smaps: %w", err)
	}
	var released uint64
	var errs []error
	for _, m := range ms {
		_, _, errno := syscall.Syscall(syscall.SYS_MADVISE, uintptr(m.start), uintptr(m.end-m.start), syscall.MADV_DONTNEED)
		if errno != 0 {
			errs = append(errs, fmt.Errorf("madvise %x-%x: %w", m.start, m.end, errno))
			continue
		}
		released += m.rss
	}
	return released, errors.Join(errs...)
}

// imageMappings reads smaps and returns the mappings of the file dev, ino
// that are not writable and hold no anonymous page.
func imageMappings(smaps io.Reader, dev, ino uint64) ([]mapping, error) {
	wantDev := fmt.Sprintf("%02x:%02x", devMajor(dev), devMinor(dev))
	var out []mapping
	var cur *mapping // the mapping being read, when it is one of the image
	sc := bufio.NewScanner(smaps)
	for sc.Scan() {
		line := sc.Text()
		f := strings.Fields(line)
		if len(f) >= 5 && strings.Contains(f[0], "-") && !strings.HasSuffix(f[0], ":") {
			// A mapping's header: address perms offset dev inode [path].
			cur = nil
			lo, hi, _ := strings.Cut(f[0], "-")
			start, err1 := strconv.ParseUint(lo, 16, 64)
			end, err2 := strconv.ParseUint(hi, 16, 64)
			n, err3 := strconv.ParseUint(f[4], 10, 64)
			if err := errors.Join(err1, err2, err3); err != nil || end <= start {
				return nil, fmt.Errorf("bad mapping %q", line)
			}
			if n == ino && f[3] == wantDev && !strings.Contains(f[1], "w") {
				out = append(out, mapping{start: start, end: end})
				cur = &out[len(out)-1]
			}
			continue
		}
		if cur == nil || len(f) < 2 {
			continue
		}
		kib, err := strconv.ParseUint(f[1], 10, 64)
		if err != nil {
			continue // VmFlags and the like
		}
		switch f[0] {
		case "Rss:":
			cur.rss = kib << 10
		case "Anonymous:":
			// Not Private_Dirty: that counts too the pages of a file
			// written but not yet on disk, a binary just built.
			if kib > 0 {
				out = out[:len(out)-1]
				cur = nil
			}
		}
	}
	return out, sc.Err()
}

// devMajor and devMinor split a device number as the kernel encodes it in
// stat (see makedev(3)).
func devMajor(dev uint64) uint64 { return (dev>>8)&0xfff | (dev>>32)&^uint64(0xfff) }
func devMinor(dev uint64) uint64 { return dev&0xff | (dev>>12)&^uint64(0xff) }
