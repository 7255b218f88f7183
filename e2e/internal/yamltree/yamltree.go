// Package yamltree compares decoded YAML configuration setting by setting.
package yamltree

import "fmt"

// Leaves flattens a decoded YAML tree (maps of map[string]any) into its
// settings: dotted key to value printed with fmt.Sprint. A list is one
// setting, so a missing or extra element shows as a changed value.
func Leaves(v any) map[string]string {
	out := map[string]string{}
	walk("", v, out)
	return out
}

func walk(prefix string, v any, out map[string]string) {
	m, ok := v.(map[string]any)
	if !ok {
		out[prefix] = fmt.Sprint(v)
		return
	}
	for k, c := range m {
		key := k
		if prefix != "" {
			key = prefix + "." + k
		}
		walk(key, c, out)
	}
}
