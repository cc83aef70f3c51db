package browsertest

import (
	"bytes"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// processesWith returns the ids of the live processes, other than this
// one, whose command line holds dir: chromium passes its profile
// directory to every process it starts, and its crash handler its
// database under HOME, so this finds them all whatever their parent or
// process group has become. Chromium rewrites its children's command
// lines into one string, so dir is looked for in the whole of it.
func processesWith(dir string) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cmdline, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil {
			continue // ended meanwhile
		}
		if bytes.Contains(cmdline, []byte(dir)) { // a zombie's is empty
			pids = append(pids, pid)
		}
	}
	return pids
}

// describe returns each process as its id and its program.
func describe(pids []int) []string {
	var out []string
	for _, pid := range pids {
		cmdline, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
		prog, _, _ := bytes.Cut(cmdline, []byte{0})
		out = append(out, strconv.Itoa(pid)+" "+strings.TrimSpace(string(prog)))
	}
	return out
}

func kill(pids []int) {
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}
