package shell

import (
	"os"
	"strconv"
	"strings"
	"syscall"
)

// killSession sends sig to every process of the session sid, read from
// /proc: a shell's jobs run in process groups of their own.
func killSession(sid int, sig syscall.Signal) {
	dir, err := os.ReadDir("/proc")
	if err != nil {
		return
	}
	for _, e := range dir {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if s, ok := sessionOf(pid); ok && s == sid {
			_ = syscall.Kill(pid, sig)
		}
	}
}

// sessionOf returns the session of process pid from /proc/PID/stat, whose
// fields after the command's closing parenthesis are state, ppid, pgrp,
// session.
func sessionOf(pid int) (int, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 4 {
		return 0, false
	}
	sid, err := strconv.Atoi(f[3])
	return sid, err == nil
}
