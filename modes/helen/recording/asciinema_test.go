package recording

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"
)

// TestAsciinemaPlays: the asciinema player itself reads a recording and
// prints what the session printed (`asciinema cat`, which plays a cast to
// stdout without its pauses). Debian's asciinema package; without it the
// test skips, and EQUUS_REQUIRE_ASCIINEMA=1 (CI) makes that a failure.
func TestAsciinemaPlays(t *testing.T) {
	bin, err := exec.LookPath("asciinema")
	if err != nil {
		if os.Getenv("EQUUS_REQUIRE_ASCIINEMA") == "1" {
			t.Fatal("no asciinema on PATH, and EQUUS_REQUIRE_ASCIINEMA=1 (apt-get install asciinema)")
		}
		t.Skip("no asciinema on PATH (apt-get install asciinema)")
	}
	d, err := Open(t.TempDir(), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	clk := newClock()
	id := NewID(clk.t)
	rec, err := d.Create(headerOf(), summaryOf(id), clk.now)
	if err != nil {
		t.Fatal(err)
	}
	snow := []byte("$ echo snow ☃\r\nsnow ☃\r\n")
	cut := strings.Index(string(snow), "☃") + 1 // inside the snowman's three bytes
	for _, part := range [][]byte{snow[:cut], snow[cut:]} {
		clk.add(300 * time.Millisecond)
		if err := rec.Event(Output, part); err != nil {
			t.Fatal(err)
		}
	}
	if err := rec.ResizeEvent(132, 43); err != nil {
		t.Fatal(err)
	}
	clk.add(100 * time.Millisecond)
	if err := rec.Event(Output, []byte("$ exit 7\r\n")); err != nil {
		t.Fatal(err)
	}
	status := 7
	if err := rec.Close(&status, "", ""); err != nil {
		t.Fatal(err)
	}
	// asciinema opens the terminal it plays to: it gets one, whose
	// output the test reads.
	cmd := exec.Command(bin, "cat", filepath.Join(d.Path(), id+".cast"))
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir()) // asciinema writes its config under HOME
	tty, err := pty.Start(cmd)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(tty) // until asciinema exits and the terminal closes (EIO)
	tty.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("asciinema cat: %v\n%s", err, out)
	}
	// The terminal's line discipline adds a CR before each LF.
	got := strings.ReplaceAll(string(out), "\r", "")
	if want := "$ echo snow ☃\nsnow ☃\n$ exit 7\n"; got != want {
		t.Errorf("asciinema cat printed %q, want %q", got, want)
	}
}
