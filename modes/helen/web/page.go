package web

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/equus-monitoring/equus/modes/helen/reply"
)

// Every list the API serves (agents, status, history, events, schedules)
// comes in pages, each list in a fixed order. A page holds at most ?limit=
// items (default defaultPageLimit; a larger limit than MaxPageLimit is
// taken as MaxPageLimit) and at most maxPageBytes of JSON, one item being
// always there however large. When more follow, the answer has a header
//
//	Link: </v1/history?agent=web-1&cursor=...&limit=100>; rel="next"
//
// (RFC 8288, as GitHub's API and others page), the same request with the
// cursor of the page's last item: the body stays the JSON array it always
// was, so a client that reads one page reads what it did before. The
// cursor is opaque; a bad one is 400.
const (
	defaultPageLimit = 100
	MaxPageLimit     = 1000
	maxPageBytes     = 4 << 20
	// MaxReply is the most any answer of the API holds: its lists come in
	// pages, and results are capped by the store (state.Cap). The helen
	// commands read no more of one.
	MaxReply = 16 << 20
)

// A page's byte bound and the largest item (a schedule with args of a
// whole blob, every byte escaped) fit in what the helen commands read of a
// reply, maxAdminReply: TestPagesFitAdminReply says so.

// pageLimit reads ?limit=: defaultPageLimit when absent, at most
// MaxPageLimit, an error when it is not a positive integer.
func pageLimit(v url.Values) (int, error) {
	l := v.Get("limit")
	if l == "" {
		return defaultPageLimit, nil
	}
	n, err := strconv.Atoi(l)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("limit %q: want a positive number (pages hold at most %d)", l, MaxPageLimit)
	}
	return min(n, MaxPageLimit), nil
}

// page is a list's items fetched for one page: up to limit+1 of them, in
// the list's order, so that one more than fits says that more follow.
type page struct {
	n      int                // items fetched
	limit  int                // most items on the page
	item   func(i int) any    // the i-th item
	cursor func(i int) string // where the list goes on after the i-th item
	// reverse writes the page's items last first: the events, whose
	// pages go back in time, each oldest first.
	reverse bool
}

// write writes the items that fit on the page as a JSON array, indented
// as writeJSON does, and when any are left a Link to the next page.
func (p page) write(w http.ResponseWriter, r *http.Request) {
	var items [][]byte
	size := 0
	for i := 0; i < p.n && i < p.limit; i++ {
		b, err := json.MarshalIndent(p.item(i), "  ", "  ")
		if err != nil {
			reply.Error(w, http.StatusInternalServerError, "encode: %v", err)
			return
		}
		if len(items) > 0 && size+len(b) > maxPageBytes {
			break
		}
		items = append(items, b)
		size += len(b) + 4 // and ",\n  "
	}
	if len(items) < p.n {
		w.Header().Set("Link", nextLink(r, p.cursor(len(items)-1), p.limit))
	}
	if p.reverse {
		slices.Reverse(items)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	if len(items) == 0 {
		w.Write([]byte("[]\n"))
		return
	}
	var body bytes.Buffer
	body.Grow(size + 8)
	body.WriteString("[\n  ")
	for i, b := range items {
		if i > 0 {
			body.WriteString(",\n  ")
		}
		body.Write(b)
	}
	body.WriteString("\n]\n")
	w.Write(body.Bytes())
}

// nextLink is the Link header to the page after cursor: the request's own
// path and query with cursor and limit set.
func nextLink(r *http.Request, cursor string, limit int) string {
	q := r.URL.Query()
	q.Set("cursor", cursor)
	q.Set("limit", strconv.Itoa(limit))
	return "<" + r.URL.Path + "?" + q.Encode() + `>; rel="next"`
}

// ParseNext returns the target of the rel="next" link of a Link header, ""
// for none.
func ParseNext(header string) string {
	for link := range strings.SplitSeq(header, ",") {
		target, params, ok := strings.Cut(strings.TrimSpace(link), ";")
		if !ok || !strings.HasPrefix(target, "<") || !strings.HasSuffix(target, ">") {
			continue
		}
		for param := range strings.SplitSeq(params, ";") {
			name, value, _ := strings.Cut(strings.TrimSpace(param), "=")
			if strings.EqualFold(name, "rel") && slices.Contains(strings.Fields(strings.Trim(value, `"`)), "next") {
				return target[1 : len(target)-1]
			}
		}
	}
	return ""
}

// nameCursor and parseNameCursor are the cursors of the lists by name
// (agents, schedules): the name, in base64url like every cursor.
func nameCursor(name string) string { return base64.RawURLEncoding.EncodeToString([]byte(name)) }

func parseNameCursor(c string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return "", fmt.Errorf("bad cursor %q", c)
	}
	return string(b), nil
}

// after returns the index in sorted of the first item after key, where cmp
// orders an item against a key as sorted is ordered.
func after[T, K any](sorted []T, key K, cmp func(T, K) int) int {
	i, found := slices.BinarySearchFunc(sorted, key, cmp)
	if found {
		i++
	}
	return i
}

// nameQuery parses the query of a list in name order and its cursor, the
// name after which the page starts; on an error it answers 400 and
// reports false.
func nameQuery(w http.ResponseWriter, r *http.Request) (listQuery, string, bool) {
	q, err := parseQuery(r)
	if err == nil {
		var from string
		if from, err = parseNameCursor(q.cursor); err == nil {
			return q, from, true
		}
	}
	reply.Error(w, http.StatusBadRequest, "%v", err)
	return q, "", false
}
