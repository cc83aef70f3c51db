package wire

import "strings"

// MaxElsewhere bounds the addresses an error try_elsewhere names: 16
// tokens of at most 250 bytes, with the code, fit in a command line.
const MaxElsewhere = 16

// TryElsewhere returns the error a helen at its bound of sessions sends
// an agent: try another helen now, one of addrs (HOST:PORT, other helens'
// agents' ports) when there are any. It names the first MaxElsewhere of
// addrs that are <string>s; the others it leaves out.
func TryElsewhere(addrs []string) Message {
	text := []string{string(CodeTryElsewhere)}
	for _, a := range addrs {
		if len(text) > MaxElsewhere {
			break
		}
		if ValidString(a) {
			text = append(text, a)
		}
	}
	return Message{Kind: KindError, Text: strings.Join(text, " ")}
}

// Elsewhere reports whether text, an error's message, is try_elsewhere,
// and returns the addresses it names, at most MaxElsewhere. They come
// from helen as they are: the agent checks each before it dials it.
func Elsewhere(text string) (addrs []string, ok bool) {
	fields := strings.Fields(text)
	if len(fields) == 0 || Code(fields[0]) != CodeTryElsewhere {
		return nil, false
	}
	addrs = fields[1:]
	return addrs[:min(len(addrs), MaxElsewhere)], true
}
