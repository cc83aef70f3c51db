package helen

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/equus-monitoring/equus/internal/tty"
)

// How the helen commands print for people: what an agent or a check
// wrote is escaped, so that it cannot steer the terminal.

// printJSON prints v as indented JSON, with the characters that could
// steer a terminal in its strings escaped (tty.JSON).
func printJSON(w io.Writer, v any) error {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return err
	}
	_, err := w.Write(tty.JSON(b.Bytes()))
	return err
}

// longNote says how many lines of long output a row of a table leaves
// out: " (+3 lines)", or "" for none or when they are shown.
func longNote(long string, shown bool) string {
	if long == "" || shown {
		return ""
	}
	if n := strings.Count(long, "\n") + 1; n > 1 {
		return fmt.Sprintf(" (+%d lines)", n)
	}
	return " (+1 line)"
}

// writeLong writes the lines of a long output under the last column of a
// table of four, so that they stand indented under the message. Their
// tabs are expanded, since the table's writer would take them for cells,
// and what could steer the terminal is escaped.
func writeLong(tw io.Writer, long string) {
	if long == "" {
		return
	}
	for _, line := range strings.Split(long, "\n") {
		fmt.Fprintf(tw, "\t\t\t\t  %s\n", tty.Line(expandTabs(line)))
	}
}

// expandTabs replaces the tabs of a line with spaces to the next multiple
// of 8 columns.
func expandTabs(line string) string {
	if !strings.Contains(line, "\t") {
		return line
	}
	var b strings.Builder
	col := 0
	for _, r := range line {
		if r == '\t' {
			n := 8 - col%8
			b.WriteString(strings.Repeat(" ", n))
			col += n
			continue
		}
		b.WriteRune(r)
		col++
	}
	return b.String()
}

// dash is s for a field of a table, "-" when empty.
func dash(s string) string {
	if s == "" {
		return "-"
	}
	return tty.Line(s)
}

// oneLine is a message for a field of a table or a line (tty.OneLine).
func oneLine(s string) string { return tty.OneLine(s) }

// since says how long ago t was (tty.Ago).
func since(t time.Time) string { return tty.Ago(t) }
