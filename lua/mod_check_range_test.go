package lua

import "testing"

func TestCheckRange(t *testing.T) {
	L := newModState(t, nil)
	checkChunks(t, L, []checkChunk{
		{"return check.evaluate(5, 10, 20), check.evaluate(15, 10, 20), check.evaluate(25, '10', '20'), check.evaluate(0, nil, '1:'), check.evaluate(3, '1:')",
			"ok warning critical critical ok"},
		{"local r = check.range('@10:20') return r:alert(15), r:alert(25), tostring(r), r:limit()", "true false @10:20 nil"},
		{"return check.range('10'):limit(), check.range('0:10'):limit(), check.range('1:2'):limit()", "10 10 nil"},
		{"return check.evaluate(15, check.range('@10:20')), check.range(5):alert(6)", "warning true"},
		{"return check.limit('10:'), check.limit('~:7'), check.limit(3), check.limit('@0:3'), check.limit('5.000')", "nil nil 3 nil 5"},
	})
}

func TestCheckRangeMisuse(t *testing.T) {
	L := newModState(t, nil)
	for _, chunk := range []string{
		"check.range('20:10')",
		"check.range('abc')",
		"check.range({})",
		"check.evaluate(1, 'x')",
		"check.evaluate('high', 1, 2)",
		"check.range('5').alert({}, 1)",
	} {
		refused(t, L, chunk)
	}
}
