package lua

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"unicode/utf8"

	glua "github.com/yuin/gopher-lua"
)

func init() { register("json", openJSON) }

// jsonNull is json.null: what a null element of a JSON array decodes to,
// and what encodes as null. It is one value shared by every state; it has
// no metatable and nothing in the sandbox can give it one.
var jsonNull = &glua.LUserData{}

// maxJSONDepth bounds the nesting json.encode follows, which also stops it
// on a table that contains itself.
const maxJSONDepth = 100

// jsonAPI is the json module.
//
// Null: a null member of a JSON object is left out of the table, so that
// args.x is nil both when x is absent and when it is null (and `args.x or
// default` works); a null element of an array decodes to json.null, so
// that positions and # are kept. Encoding, nil and json.null are null.
//
// Tables: a table whose keys are exactly 1..#t encodes as an array; any
// other table, the empty one included, as an object with its keys (strings,
// or numbers written as strings) in sorted order. Numbers are floats, as
// in Lua.
var jsonAPI = map[string]glua.LGFunction{
	"decode": jsonDecode,
	"encode": jsonEncode,
}

func openJSON(*Env) glua.LGFunction {
	return func(L *glua.LState) int {
		mod := L.SetFuncs(L.NewTable(), jsonAPI)
		mod.RawSetString("null", jsonNull)
		L.Push(mod)
		return 1
	}
}

// jsonDecode is json.decode(text) -> value | nil, err.
func jsonDecode(L *glua.LState) int {
	var v any
	if err := json.Unmarshal([]byte(L.CheckString(1)), &v); err != nil {
		L.Push(glua.LNil)
		L.Push(glua.LString("json.decode: " + err.Error()))
		return 2
	}
	L.Push(decodeValue(L, v))
	return 1
}

// jsonEncode is json.encode(value) -> string | nil, err. A function, a
// userdata, NaN, infinity, a key that is not a string or number, or nesting
// deeper than 100 (a table that contains itself) is an error.
func jsonEncode(L *glua.LState) int {
	b, err := appendJSON(nil, L.CheckAny(1), 0)
	if err != nil {
		L.Push(glua.LNil)
		L.Push(glua.LString("json.encode: " + err.Error()))
		return 2
	}
	L.Push(glua.LString(b))
	return 1
}

// decodeObject converts a decoded JSON object into a Lua table.
func decodeObject(L *glua.LState, m map[string]any) *glua.LTable {
	t := L.CreateTable(0, len(m))
	for k, v := range m {
		if v != nil {
			t.RawSetString(k, decodeValue(L, v))
		}
	}
	return t
}

// decodeValue converts what encoding/json decoded into any into Lua.
func decodeValue(L *glua.LState, v any) glua.LValue {
	switch v := v.(type) {
	case nil:
		return jsonNull
	case bool:
		return glua.LBool(v)
	case float64:
		return glua.LNumber(v)
	case string:
		return glua.LString(v)
	case []any:
		t := L.CreateTable(len(v), 0)
		for i, x := range v {
			t.RawSetInt(i+1, decodeValue(L, x))
		}
		return t
	case map[string]any:
		return decodeObject(L, v)
	}
	panic(fmt.Sprintf("lua: json decoded an unexpected %T", v))
}

// errJSONTooLong is the error of an encoding longer than maxString, which
// a table holding the same long string many times would make.
var errJSONTooLong = fmt.Errorf("the result would be more than the limit of %d bytes", maxString)

func appendJSON(b []byte, v glua.LValue, depth int) ([]byte, error) {
	if depth > maxJSONDepth {
		return nil, errors.New("nested too deep (does a table contain itself?)")
	}
	if len(b) > maxString {
		return nil, errJSONTooLong
	}
	switch v := v.(type) {
	case *glua.LNilType:
		return append(b, "null"...), nil
	case glua.LBool:
		return strconv.AppendBool(b, bool(v)), nil
	case glua.LNumber:
		return appendNumber(b, float64(v))
	case glua.LString:
		if len(b)+len(v) > maxString {
			return nil, errJSONTooLong
		}
		return appendString(b, string(v)), nil
	case *glua.LTable:
		return appendTable(b, v, depth)
	case *glua.LUserData:
		if v == jsonNull {
			return append(b, "null"...), nil
		}
	}
	return nil, fmt.Errorf("cannot encode a %s", v.Type())
}

func appendNumber(b []byte, f float64) ([]byte, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil, fmt.Errorf("cannot encode %v", f)
	}
	// As encoding/json does: plain digits, exponent only for the very
	// large and the very small.
	if a := math.Abs(f); a != 0 && (a < 1e-6 || a >= 1e21) {
		return strconv.AppendFloat(b, f, 'e', -1, 64), nil
	}
	return strconv.AppendFloat(b, f, 'f', -1, 64), nil
}

func appendTable(b []byte, t *glua.LTable, depth int) ([]byte, error) {
	// An array when the keys are integers whose largest is their count,
	// that is exactly 1..n.
	count, maxInt, ints := 0, 0, true
	keys := make([]string, 0)
	values := map[string]glua.LValue{}
	var bad error
	t.ForEach(func(k, v glua.LValue) {
		count++
		if n, ok := k.(glua.LNumber); ok && float64(n) == math.Trunc(float64(n)) && n >= 1 && n <= math.MaxInt32 {
			maxInt = max(maxInt, int(n))
		} else {
			ints = false
		}
		if bad != nil {
			return
		}
		var key string
		switch k := k.(type) {
		case glua.LString:
			key = string(k)
		case glua.LNumber:
			key = k.String()
		default:
			bad = fmt.Errorf("cannot encode a table key that is a %s", k.Type())
			return
		}
		keys = append(keys, key)
		values[key] = v
	})
	if count > 0 && ints && maxInt == count {
		b = append(b, '[')
		for i := 1; i <= count; i++ {
			if i > 1 {
				b = append(b, ',')
			}
			var err error
			if b, err = appendJSON(b, t.RawGetInt(i), depth+1); err != nil {
				return nil, err
			}
		}
		return append(b, ']'), nil
	}
	if bad != nil {
		return nil, bad
	}
	sort.Strings(keys)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(appendString(b, k), ':')
		var err error
		if b, err = appendJSON(b, values[k], depth+1); err != nil {
			return nil, err
		}
	}
	return append(b, '}'), nil
}

// appendString writes s as a JSON string; invalid UTF-8 becomes U+FFFD.
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c < 0x20 || c == 0x7f:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, `\ufffd`...)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}
