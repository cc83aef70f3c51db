package notify

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Receiver sends a notification somewhere. Send returns what the receiver
// answered (for a person reading the record of attempts: a status line and
// a bounded prefix of what came with it, at most MaxAnswer bytes), and an
// error when it failed: one that wraps ErrPermanent when sending it again
// would fail the same way, any other when a later attempt may succeed.
// Send may be called from many goroutines at once.
type Receiver interface {
	Send(ctx context.Context, n Notification) (answer string, err error)
}

// ErrPermanent marks a failure that a retry would repeat: the receiver
// refused the notification (an HTTP 4xx, an SMTP 5xx), its address is
// wrong, the notification is invalid. Test with errors.Is.
var ErrPermanent = errors.New("permanent failure")

// permanent wraps err as a failure not worth a retry.
func permanent(err error) error {
	if err == nil || errors.Is(err, ErrPermanent) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrPermanent, err)
}

// MaxAnswer is the most bytes of a receiver's answer that Send returns:
// enough for a status line and the start of an error page, small enough
// to keep for every attempt.
const MaxAnswer = 512

// answer joins a status line and the start of what came with it, cut to
// MaxAnswer bytes on a rune boundary, with whitespace runs (newlines
// included) made single spaces so the answer is one line.
func answer(status string, body []byte) string {
	s := strings.Join(strings.Fields(status+" "+strings.ToValidUTF8(string(body), "\uFFFD")), " ")
	return answerCut(s, MaxAnswer)
}

// answerCut returns s cut to at most max bytes on a rune boundary.
func answerCut(s string, max int) string {
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}

// prefix is an io.Writer that keeps the first max bytes written to it and
// counts the rest, so that a peer that floods is read (and not blocked)
// without memory growing.
type prefix struct {
	max     int
	buf     []byte
	dropped int64
}

func (p *prefix) Write(b []byte) (int, error) {
	if room := p.max - len(p.buf); room > 0 {
		keep := min(room, len(b))
		p.buf = append(p.buf, b[:keep]...)
		p.dropped += int64(len(b) - keep)
	} else {
		p.dropped += int64(len(b))
	}
	return len(b), nil
}
