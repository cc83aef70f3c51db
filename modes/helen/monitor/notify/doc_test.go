package notify

import (
	"bufio"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// notificationsDoc is the description of the notification that
// TestNotificationDoc holds the code to.
const notificationsDoc = "../../../../docs/NOTIFICATIONS.md"

// docTable returns the first column of the rows of the table under the
// section titled heading ("## The notification"), unquoted from its
// backticks.
func docTable(t *testing.T, heading string, afterLine string) []string {
	t.Helper()
	f, err := os.Open(notificationsDoc)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	in, started := false, afterLine == ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "## ") {
			in = line == heading
			continue
		}
		if !in {
			continue
		}
		if !started {
			started = strings.HasPrefix(line, afterLine)
			continue
		}
		if !strings.HasPrefix(line, "|") {
			if len(out) > 0 {
				break
			}
			continue
		}
		if strings.HasPrefix(line, "|---") {
			continue
		}
		cell := strings.TrimSpace(strings.Split(strings.Trim(line, "|"), "|")[0])
		if name, ok := strings.CutPrefix(cell, "`"); ok {
			out = append(out, strings.TrimSuffix(name, "`"))
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestNotificationDoc holds docs/NOTIFICATIONS.md to the Notification
// type: the same fields in the same order, and every kind described.
func TestNotificationDoc(t *testing.T) {
	doc := docTable(t, "## The notification", "")
	code := jsonNames(reflect.TypeOf(Notification{}))
	if !slices.Equal(doc, code) {
		t.Errorf("the notification's fields:\n  docs: %v\n  code: %v", doc, code)
	}
	kinds := docTable(t, "## The notification", "The kinds:")
	var want []string
	for _, k := range Kinds {
		want = append(want, string(k))
	}
	if !slices.Equal(kinds, want) {
		t.Errorf("the kinds:\n  docs: %v\n  code: %v", kinds, want)
	}
}
