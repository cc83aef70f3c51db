package recording

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
)

// MaxLine bounds a line of a cast that Reader reads: an event of a whole
// frame (32 KiB) of bytes that each escape to six is well under it.
const MaxLine = 1 << 20

// Event is one line of a cast after its header.
type Event struct {
	Time float64 // seconds from the start
	Code string  // Output, Input, Resize, or another code, which players skip
	Data string
}

// Reader reads a cast.
type Reader struct {
	br   *bufio.Reader
	line int
}

// NewReader returns a reader of the cast r.
func NewReader(r io.Reader) *Reader { return &Reader{br: bufio.NewReaderSize(r, 64<<10)} }

func (r *Reader) readLine() ([]byte, error) {
	var line []byte
	for {
		chunk, err := r.br.ReadSlice('\n')
		line = append(line, chunk...)
		if len(line) > MaxLine {
			return nil, fmt.Errorf("cast line %d: over %d bytes", r.line+1, MaxLine)
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err != nil && (err != io.EOF || len(line) == 0) {
			return nil, err
		}
		r.line++
		return line, nil
	}
}

// Header reads the cast's header, its first line.
func (r *Reader) Header() (Header, error) {
	var h Header
	line, err := r.readLine()
	if err == io.EOF {
		return h, errors.New("cast: empty")
	}
	if err != nil {
		return h, err
	}
	if err := json.Unmarshal(line, &h); err != nil {
		return h, fmt.Errorf("cast header: %w", err)
	}
	if h.Version != 2 {
		return h, fmt.Errorf("cast header: version %d, want 2", h.Version)
	}
	return h, nil
}

// Next reads the next event; io.EOF after the last.
func (r *Reader) Next() (Event, error) {
	line, err := r.readLine()
	if err != nil {
		return Event{}, err
	}
	var raw []json.RawMessage
	if err := json.Unmarshal(line, &raw); err != nil || len(raw) != 3 {
		return Event{}, fmt.Errorf("cast line %d: not an event [time, code, data]", r.line)
	}
	var ev Event
	if json.Unmarshal(raw[0], &ev.Time) != nil || json.Unmarshal(raw[1], &ev.Code) != nil || json.Unmarshal(raw[2], &ev.Data) != nil {
		return Event{}, fmt.Errorf("cast line %d: not an event [time, code, data]", r.line)
	}
	if ev.Time < 0 {
		return Event{}, fmt.Errorf("cast line %d: negative time", r.line)
	}
	return ev, nil
}

// MaxPause bounds the wait between two events of a replay, as asciinema
// play's --idle-time-limit does: a session left idle for an hour replays
// in seconds.
const MaxPause = 2 * time.Second

// Play writes the output of the cast r to w in its time, sped up by
// speed, waiting with sleep (which returns early with ctx's error).
func Play(ctx context.Context, w io.Writer, r io.Reader, speed float64, sleep func(context.Context, time.Duration) error) error {
	if speed <= 0 {
		return fmt.Errorf("speed %v: want a positive one", speed)
	}
	cr := NewReader(r)
	if _, err := cr.Header(); err != nil {
		return err
	}
	last := 0.0
	for {
		ev, err := cr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if ev.Code != Output {
			continue
		}
		pause := min(time.Duration((ev.Time-last)/speed*float64(time.Second)), MaxPause)
		last = ev.Time
		if pause > 0 {
			if err := sleep(ctx, pause); err != nil {
				return err
			}
		}
		if _, err := io.WriteString(w, ev.Data); err != nil {
			return err
		}
	}
}
