package equus

import (
	"os"
	"strings"
	"syscall"
	"testing"
)

// smapsSample is /proc/PID/smaps of a position-independent build of the
// binary (device fd:01, inode 4242) and a library, trimmed to the fields
// that matter. Its read-only data is dirty, as that of a binary just
// built and not yet written back.
const smapsSample = `55d0c0000000-55d0c0784000 r-xp 00000000 fd:01 4242                       /usr/bin/equus
Size:               7696 kB
Rss:                6996 kB
Anonymous:             0 kB
VmFlags: rd ex mr mw me sd
55d0c0785000-55d0c0f89000 r--p 00785000 fd:01 4242                       /usr/bin/equus
Size:               8208 kB
Rss:                5968 kB
Private_Dirty:      5968 kB
Anonymous:             0 kB
VmFlags: rd mr mw me sd
55d0c0f89000-55d0c0fa0000 r--p 00f89000 fd:01 4242                       /usr/bin/equus
Rss:                  92 kB
Private_Dirty:        92 kB
Anonymous:            92 kB
55d0c0fa0000-55d0c1005000 rw-p 00fa0000 fd:01 4242                       /usr/bin/equus
Rss:                 496 kB
Anonymous:           120 kB
7fe65a9b2000-7fe65ab08000 r-xp 00026000 fd:01 99                         /usr/lib/x86_64-linux-gnu/libc.so.6
Rss:                 824 kB
Anonymous:             0 kB
7fe65ab08000-7fe65ab5b000 r--p 00000000 08:01 4242                       /mnt/other-disk/file
Rss:                 160 kB
Anonymous:             0 kB
7fe65ab61000-7fe65ab6e000 rw-p 00000000 00:00 0 
Rss:                  20 kB
Anonymous:            20 kB
`

func TestImageMappings(t *testing.T) {
	dev := uint64(0xfd<<8 | 0x01)
	got, err := imageMappings(strings.NewReader(smapsSample), dev, 4242)
	if err != nil {
		t.Fatal(err)
	}
	// The code and the read-only data; not the relocated read-only
	// segment (its pages are the process's own), the writable one, the
	// library or a file of the same inode on another device.
	want := []mapping{
		{start: 0x55d0c0000000, end: 0x55d0c0784000, rss: 6996 << 10},
		{start: 0x55d0c0785000, end: 0x55d0c0f89000, rss: 5968 << 10},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("mapping %d: got %+v, want %+v", i, got[i], want[i])
		}
	}

	if _, err := imageMappings(strings.NewReader("zz-55d0c0784000 r-xp 00000000 fd:01 4242 /usr/bin/equus\n"), dev, 4242); err == nil {
		t.Error("a mapping with a bad address: no error")
	}
}

// TestReleaseImage releases the test binary's pages and finds fewer of
// them resident after, and the program still running on them.
func TestReleaseImage(t *testing.T) {
	before := imageRSS(t)
	released, err := releaseImage()
	if err != nil {
		t.Fatal(err)
	}
	after := imageRSS(t)
	t.Logf("binary resident: %d KiB before, %d KiB after; released %d KiB", before>>10, after>>10, released>>10)
	if released == 0 || after >= before {
		t.Fatalf("binary resident: %d KiB before, %d KiB after; released %d KiB", before>>10, after>>10, released>>10)
	}
}

// imageRSS returns the bytes resident in the executable's read-only
// mappings.
func imageRSS(t *testing.T) uint64 {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat("/proc/self/exe", &st); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ms, err := imageMappings(f, uint64(st.Dev), st.Ino)
	if err != nil {
		t.Fatal(err)
	}
	var rss uint64
	for _, m := range ms {
		rss += m.rss
	}
	return rss
}
