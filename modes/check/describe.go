package check

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/equus-monitoring/equus/internal/tty"
	"github.com/equus-monitoring/equus/lua"
)

// find returns the check of that name, and whether there is one.
func find(checks []lua.CheckInfo, name string) (lua.CheckInfo, bool) {
	for _, c := range checks {
		if c.Name == name {
			return c, true
		}
	}
	return lua.CheckInfo{}, false
}

// describe prints what check c is and the args it declares, with their
// kinds, defaults and descriptions: for people a table whose fields are
// escaped (a check from a bundle is helen's text), or c as JSON.
func describe(w io.Writer, c lua.CheckInfo, asJSON bool) error {
	if asJSON {
		b, err := json.MarshalIndent(c, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", tty.JSON(b))
		return err
	}
	fmt.Fprintf(w, "%s: %s (%s)\n", tty.Line(c.Name), tty.Line(c.Description), tty.Line(c.Source))
	if len(c.Args) == 0 {
		_, err := fmt.Fprintln(w, "\nIt declares no args.")
		return err
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "ARG\tKIND\tDEFAULT\tDESCRIPTION")
	for _, a := range requiredFirst(c.Args) {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", tty.Line(a.Name), tty.Line(a.Kind), tty.Line(defaultText(a)), tty.Line(a.Description))
	}
	return tw.Flush()
}

// requiredFirst returns args, which come in name order, with the required
// ones first: what a caller must give before what it may.
func requiredFirst(args []lua.ArgInfo) []lua.ArgInfo {
	out := slices.Clone(args)
	slices.SortStableFunc(out, func(a, b lua.ArgInfo) int {
		switch {
		case a.Required == b.Required:
			return 0
		case a.Required:
			return -1
		}
		return 1
	})
	return out
}

// defaultText is the default of a as a person reads it: "required", a
// string quoted, a number or a boolean as Lua writes it, or "-" for none.
func defaultText(a lua.ArgInfo) string {
	switch v := a.Default.(type) {
	case string:
		return strconv.Quote(v)
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(v)
	}
	if a.Required {
		return "required"
	}
	return "-"
}

// Reference returns the Markdown reference of checks for docs/checks.md:
// for each check, its description and a table of its args.
// TestChecksReference keeps the file in step with the declarations.
//
//go:generate go test -run ^TestChecksReference$ -update .
func Reference(checks []lua.CheckInfo) string {
	var b strings.Builder
	for _, c := range checks {
		fmt.Fprintf(&b, "### %s\n\n%s\n\n", c.Name, md(c.Description))
		if len(c.Args) == 0 {
			b.WriteString("It takes no args.\n\n")
			continue
		}
		b.WriteString("| arg | kind | default | |\n|---|---|---|---|\n")
		for _, a := range requiredFirst(c.Args) {
			def := defaultText(a)
			if a.Default != nil {
				def = "`" + def + "`"
			}
			fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", a.Name, a.Kind, def, md(a.Description))
		}
		b.WriteString("\n")
	}
	return b.String()
}

// md escapes what would end a Markdown table cell.
func md(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
