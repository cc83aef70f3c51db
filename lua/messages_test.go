package lua

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/equus-monitoring/equus/result"
)

// TestErrorMessages checks the messages of checks that fail in ways a
// check author meets: an error raised with a value that is not a string,
// a module that does not exist.
func TestErrorMessages(t *testing.T) {
	tests := []struct {
		name, code, want string
	}{
		{"table-message", `error({message = "disk gone", code = 3})`, "disk gone"},
		{"table-number-message", `error({message = 42})`, "42"},
		{"table", `error({code = 3})`, "error with a table value"},
		{"nil", `error(nil)`, "error with a nil value"},
		{"boolean", `error(false)`, "error with a boolean value"},
		{"string", `error("plain", 0)`, "plain"},
		{"require-io", `require("io")`, `module "io" is not available to checks (modules: check, exec, fs, host, http, json, log, net`},
		{"require-os-lib", `require("debug")`, `module "debug" is not available to checks`},
	}
	dir := t.TempDir()
	for _, tt := range tests {
		code := "return function() " + tt.code + " end"
		if err := os.WriteFile(filepath.Join(dir, tt.name+".lua"), []byte(code), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	rt, _ := newTestRuntime(t, Options{Dir: dir})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := rt.Run(context.Background(), tt.name, nil)
			if d.Status != result.Unknown || !strings.Contains(d.Message, tt.want) {
				t.Errorf("got %s %q, want unknown with %q", d.Status, d.Message, tt.want)
			}
		})
	}
}

// TestEndlessLoadIsBroken loads a library with a file whose top-level
// code never ends: loading must give up on it quickly and say why.
func TestEndlessLoadIsBroken(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"spin.lua": `while true do end`,
		"fine.lua": `return {description = "fine", run = function() return {status = "ok"} end}`,
	}
	for name, code := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(code), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	rt, _ := newTestRuntime(t, Options{Dir: dir})
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("loading took %v", took)
	}
	var spin, fine *CheckInfo
	for _, ci := range rt.Checks() {
		switch ci.Name {
		case "spin":
			spin = &ci
		case "fine":
			fine = &ci
		}
	}
	if spin == nil || !strings.Contains(spin.Err, "took too long to load") {
		t.Errorf("spin: %+v, want an error saying it took too long to load", spin)
	}
	if fine == nil || fine.Err != "" || fine.Description != "fine" {
		t.Errorf("fine: %+v", fine)
	}
	d := rt.Run(context.Background(), "spin", nil)
	if d.Status != result.Unknown || !strings.Contains(d.Message, "took too long to load") {
		t.Errorf("run spin: got %s %q", d.Status, d.Message)
	}
}
