package lua

import (
	"strings"
	"testing"

	glua "github.com/yuin/gopher-lua"
)

// BenchmarkPatterns compares the pattern functions of the sandbox with
// gopher-lua's on what checks do: find a status in a page, split a
// plugin's output, trim, list the words.
func BenchmarkPatterns(b *testing.B) {
	page := strings.Repeat("<p>lorem ipsum dolor sit amet</p>\n", 2000) + "status: healthy\n"
	output := "DISK OK - free space: / 3326 MB (56%);" + strings.Repeat(" inode=99%", 50) + "\n" +
		strings.Repeat("/boot 68 MB (69%)\n", 40) + "| /=2643MB;5948;5958;0;5968"
	cases := []struct{ name, fn, arg string }{
		{"find-capture", `function(s) return string.find(s, "status: (%w+)") end`, page},
		{"find-anchored-fail", `function(s) return string.find(s, "^HTTP/%d") end`, page},
		{"match-lines", `function(s) return string.match(s, "^([^\n]*)\n?(.*)$") end`, output},
		{"gsub-trim", `function(s) return (string.gsub(s, "^%s+", "")) end`, "   " + output},
		{"gmatch-words", `function(s) local n = 0 for _ in string.gmatch(s, "%a+") do n = n + 1 end return n end`, output},
	}
	for _, c := range cases {
		for _, impl := range []string{"ours", "gopher-lua"} {
			b.Run(c.name+"/"+impl, func(b *testing.B) {
				L := glua.NewState()
				defer L.Close()
				if impl == "ours" {
					installPatterns(L)
				}
				if err := L.DoString("return " + c.fn); err != nil {
					b.Fatal(err)
				}
				fn := L.Get(-1).(*glua.LFunction)
				L.Pop(1)
				arg := glua.LString(c.arg)
				b.ReportAllocs()
				b.SetBytes(int64(len(c.arg)))
				for b.Loop() {
					if err := L.CallByParam(glua.P{Fn: fn, NRet: 1, Protect: true}, arg); err != nil {
						b.Fatal(err)
					}
					L.Pop(1)
				}
			})
		}
	}
}
