// Package config loads a service's YAML configuration strictly: every key
// must map to a field, every value must fit its field's type, and the first
// problem is reported as one line naming the file, the key and the problem.
// Fields tagged `env:"NAME"` are then overridden from the environment (that is
// how secrets reach a service in production), and fields tagged
// `secret:"true"` must not hold a placeholder or weak value (CheckSecret).
// Sections shared between services (kit/tracing's, say) check themselves
// through ValidateSection, and finally the struct's own Validate method, if
// it has one, checks values that depend on each other.
//
// Services call Load from main and exit with status 2 on error.
package config

import (
	"encoding"
	"errors"
	"fmt"
	"net/url"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Error is a configuration problem: the file, the dotted key and what is wrong.
type Error struct {
	File    string
	Key     string
	Problem string
}

func (e *Error) Error() string {
	key := e.Key
	if key == "" {
		key = "(top level)"
	}
	return fmt.Sprintf("config %s: key %s: %s", e.File, key, e.Problem)
}

// Problem returns an error for a key, for use in Validate methods; Load fills
// in the file name.
func Problem(key, format string, args ...any) error {
	return &Error{Key: key, Problem: fmt.Sprintf(format, args...)}
}

// Validator is implemented by config structs that check their own values.
type Validator interface {
	Validate() error
}

// SectionValidator is implemented by a block of configuration that several
// services embed (kit/tracing.Config): it checks itself wherever it sits, so
// no service can forget to. key is its dotted key in the file, for Problem.
type SectionValidator interface {
	ValidateSection(key string) error
}

// Load reads path into dst, a pointer to a struct holding the defaults.
func Load(path string, dst any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return &Error{File: path, Problem: "file not found"}
		}
		return &Error{File: path, Problem: oneLine(err.Error())}
	}
	return LoadBytes(path, data, dst, os.LookupEnv)
}

// LoadBytes is Load on bytes already read; lookupEnv supplies overrides.
func LoadBytes(name string, data []byte, dst any, lookupEnv func(string) (string, bool)) error {
	rv := reflect.ValueOf(dst)
	if rv.Kind() != reflect.Pointer || rv.Elem().Kind() != reflect.Struct {
		return fmt.Errorf("config: Load needs a pointer to a struct, got %T", dst)
	}
	withFile := func(err error) error {
		var ce *Error
		if errors.As(err, &ce) {
			ce.File = name
			return ce
		}
		return &Error{File: name, Problem: oneLine(err.Error())}
	}

	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return withFile(&Error{Problem: "not valid YAML: " + oneLine(strings.TrimPrefix(err.Error(), "yaml: "))})
	}
	if len(doc.Content) > 0 {
		if err := decode(doc.Content[0], rv.Elem(), ""); err != nil {
			return withFile(err)
		}
	}
	if err := applyEnv(rv.Elem(), "", lookupEnv); err != nil {
		return withFile(err)
	}
	if err := checkRequired(rv.Elem(), ""); err != nil {
		return withFile(err)
	}
	if err := checkSecrets(rv.Elem(), "", lookupEnv); err != nil {
		return withFile(err)
	}
	if err := validateSections(rv.Elem(), ""); err != nil {
		return withFile(err)
	}
	if v, ok := dst.(Validator); ok {
		if err := v.Validate(); err != nil {
			return withFile(err)
		}
	}
	return nil
}

func join(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

var (
	durationType        = reflect.TypeOf(time.Duration(0))
	textUnmarshalerType = reflect.TypeOf((*encoding.TextUnmarshaler)(nil)).Elem()
)

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	}
	return fmt.Sprintf("%q", n.Value)
}

// decode walks the YAML node into v, keeping the dotted key for errors.
func decode(n *yaml.Node, v reflect.Value, key string) error {
	if n.Kind == yaml.AliasNode {
		return decode(n.Alias, v, key)
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil // keep the default
	}
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		return decode(n, v.Elem(), key)
	}
	if v.CanAddr() && v.Addr().Type().Implements(textUnmarshalerType) {
		if n.Kind != yaml.ScalarNode {
			return &Error{Key: key, Problem: "expected a single value, got " + kindName(n)}
		}
		if err := v.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(n.Value)); err != nil {
			return &Error{Key: key, Problem: oneLine(err.Error())}
		}
		return nil
	}
	switch v.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return &Error{Key: key, Problem: "expected a mapping, got " + kindName(n)}
		}
		fields := fieldsByName(v.Type())
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			name := n.Content[i].Value
			k := join(key, name)
			if seen[name] {
				return &Error{Key: k, Problem: fmt.Sprintf("duplicate key (line %d)", n.Content[i].Line)}
			}
			seen[name] = true
			idx, ok := fields[name]
			if !ok {
				return &Error{Key: k, Problem: fmt.Sprintf("unknown key (line %d)", n.Content[i].Line)}
			}
			if err := decode(n.Content[i+1], v.Field(idx), k); err != nil {
				return err
			}
		}
		return nil
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			return &Error{Key: key, Problem: "expected a mapping, got " + kindName(n)}
		}
		if v.Type().Key().Kind() != reflect.String {
			return &Error{Key: key, Problem: "unsupported map key type"}
		}
		if v.IsNil() {
			v.Set(reflect.MakeMap(v.Type()))
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			name := n.Content[i].Value
			elem := reflect.New(v.Type().Elem()).Elem()
			if err := decode(n.Content[i+1], elem, join(key, name)); err != nil {
				return err
			}
			v.SetMapIndex(reflect.ValueOf(name).Convert(v.Type().Key()), elem)
		}
		return nil
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return &Error{Key: key, Problem: "expected a list, got " + kindName(n)}
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, c := range n.Content {
			if err := decode(c, s.Index(i), fmt.Sprintf("%s[%d]", key, i)); err != nil {
				return err
			}
		}
		v.Set(s)
		return nil
	case reflect.Interface:
		var x any
		if err := n.Decode(&x); err != nil {
			return &Error{Key: key, Problem: oneLine(err.Error())}
		}
		v.Set(reflect.ValueOf(x))
		return nil
	}
	if n.Kind != yaml.ScalarNode {
		return &Error{Key: key, Problem: "expected a single value, got " + kindName(n)}
	}
	return setScalar(v, n.Value, key)
}

// setScalar parses s into a scalar field; used for YAML values and env vars.
func setScalar(v reflect.Value, s, key string) error {
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		return setScalar(v.Elem(), s, key)
	}
	if v.CanAddr() && v.Addr().Type().Implements(textUnmarshalerType) {
		if err := v.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(s)); err != nil {
			return &Error{Key: key, Problem: oneLine(err.Error())}
		}
		return nil
	}
	bad := func(want string) error {
		return &Error{Key: key, Problem: fmt.Sprintf("expected %s, got %q", want, s)}
	}
	if v.Type() == durationType {
		d, err := time.ParseDuration(s)
		if err != nil {
			return bad("a duration like 30s or 5m")
		}
		v.SetInt(int64(d))
		return nil
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(s)
	case reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return bad("true or false")
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		i, err := strconv.ParseInt(s, 10, v.Type().Bits())
		if err != nil {
			return bad("a whole number")
		}
		v.SetInt(i)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		i, err := strconv.ParseUint(s, 10, v.Type().Bits())
		if err != nil {
			return bad("a non-negative whole number")
		}
		v.SetUint(i)
	case reflect.Float32, reflect.Float64:
		f, err := strconv.ParseFloat(s, v.Type().Bits())
		if err != nil {
			return bad("a number")
		}
		v.SetFloat(f)
	default:
		return &Error{Key: key, Problem: "unsupported field type " + v.Type().String()}
	}
	return nil
}

type fieldInfo struct {
	yamlName string
	env      string
	required bool
}

func parseField(f reflect.StructField) (fieldInfo, bool) {
	if !f.IsExported() {
		return fieldInfo{}, false
	}
	name := strings.Split(f.Tag.Get("yaml"), ",")[0]
	if name == "-" {
		return fieldInfo{}, false
	}
	if name == "" {
		name = strings.ToLower(f.Name)
	}
	return fieldInfo{yamlName: name, env: f.Tag.Get("env"), required: f.Tag.Get("required") == "true"}, true
}

func fieldsByName(t reflect.Type) map[string]int {
	m := map[string]int{}
	for i := 0; i < t.NumField(); i++ {
		if fi, ok := parseField(t.Field(i)); ok {
			m[fi.yamlName] = i
		}
	}
	return m
}

// applyEnv sets fields tagged env:"NAME" from the environment.
func applyEnv(v reflect.Value, key string, lookup func(string) (string, bool)) error {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		fi, ok := parseField(t.Field(i))
		if !ok {
			continue
		}
		fv := v.Field(i)
		k := join(key, fi.yamlName)
		if fi.env != "" {
			if s, ok := lookup(fi.env); ok {
				if err := setScalar(fv, s, k); err != nil {
					var ce *Error
					if errors.As(err, &ce) {
						ce.Problem = "from env " + fi.env + ": " + ce.Problem
					}
					return err
				}
			}
		}
		if fv.Kind() == reflect.Struct && !fv.Addr().Type().Implements(textUnmarshalerType) {
			if err := applyEnv(fv, k, lookup); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkRequired reports the first field tagged required:"true" left empty.
func checkRequired(v reflect.Value, key string) error {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		fi, ok := parseField(t.Field(i))
		if !ok {
			continue
		}
		fv := v.Field(i)
		k := join(key, fi.yamlName)
		if fi.required && fv.IsZero() {
			hint := ""
			if fi.env != "" {
				hint = " (or set " + fi.env + ")"
			}
			return &Error{Key: k, Problem: "required but not set" + hint}
		}
		if fv.Kind() == reflect.Struct && !fv.Addr().Type().Implements(textUnmarshalerType) {
			if err := checkRequired(fv, k); err != nil {
				return err
			}
		}
	}
	return nil
}

// validateSections runs ValidateSection on every struct field that has it,
// depth first.
func validateSections(v reflect.Value, key string) error {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		fi, ok := parseField(t.Field(i))
		if !ok {
			continue
		}
		fv := v.Field(i)
		if fv.Kind() != reflect.Struct || fv.Addr().Type().Implements(textUnmarshalerType) {
			continue
		}
		k := join(key, fi.yamlName)
		if err := validateSections(fv, k); err != nil {
			return err
		}
		if sv, ok := fv.Addr().Interface().(SectionValidator); ok {
			if err := sv.ValidateSection(k); err != nil {
				return err
			}
		}
	}
	return nil
}

// URL is an absolute http or https URL in configuration.
type URL struct{ url.URL }

// UnmarshalText parses and checks the URL.
func (u *URL) UnmarshalText(b []byte) error {
	p, err := ParseHTTPURL(string(b))
	if err != nil {
		return err
	}
	u.URL = *p
	return nil
}

// MarshalText writes the URL back.
func (u URL) MarshalText() ([]byte, error) { return []byte(u.String()), nil }

// IsZero reports whether the URL is unset.
func (u URL) IsZero() bool { return u.URL == (url.URL{}) }

// ParseHTTPURL accepts only absolute http(s) URLs with a host.
func ParseHTTPURL(s string) (*url.URL, error) {
	p, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("not a valid URL: %q", s)
	}
	if p.Scheme != "http" && p.Scheme != "https" {
		return nil, fmt.Errorf("expected an http:// or https:// URL, got %q", s)
	}
	if p.Host == "" {
		return nil, fmt.Errorf("URL %q has no host", s)
	}
	return p, nil
}

// MustURL parses a URL for defaults in code; it panics on a bad literal.
func MustURL(s string) URL {
	p, err := ParseHTTPURL(s)
	if err != nil {
		panic(err)
	}
	return URL{*p}
}

// CheckPostgresURL reports a problem for key unless s is a postgres:// URL.
// Secrets in it are never echoed.
func CheckPostgresURL(key, s string) error {
	p, err := url.Parse(s)
	if err != nil || (p.Scheme != "postgres" && p.Scheme != "postgresql") {
		return Problem(key, "expected a postgres:// URL")
	}
	if p.Host == "" && p.Query().Get("host") == "" {
		return Problem(key, "the postgres URL names no host")
	}
	return nil
}
