package stage0

import (
	"context"
	"net"
	"strings"
	"testing"
)

// stage0 syncs with the first of the agent's helens that answers, in
// whatever order it tries them; when none does, its error names each.
func TestDialAny(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	var gone []string
	for range 2 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		gone = append(gone, l.Addr().String())
		l.Close()
	}
	dial := func(ctx context.Context, addr string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	}
	ctx := context.Background()
	for range 10 {
		c, err := dialAny(ctx, append([]string{ln.Addr().String()}, gone...), dial)
		if err != nil {
			t.Fatalf("dialAny: %v", err)
		}
		if got := c.RemoteAddr().String(); got != ln.Addr().String() {
			t.Errorf("connected to %s, want %s", got, ln.Addr())
		}
		c.Close()
	}
	_, err = dialAny(ctx, gone, dial)
	if err == nil || !strings.Contains(err.Error(), gone[0]) || !strings.Contains(err.Error(), gone[1]) {
		t.Errorf("no helen answers: %v, want both named", err)
	}
}
