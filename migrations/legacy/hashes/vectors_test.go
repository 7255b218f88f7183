package hashes_test

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"os/exec"
	"strings"
	"testing"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
	"golang.org/x/crypto/pbkdf2"
	"golang.org/x/crypto/scrypt"

	"github.com/learnplatform/platform/migrations/legacy/hashes"
	"github.com/learnplatform/platform/migrations/legacy/legacyfixture"
)

// Every vector, made by an independent implementation (Python's hashlib,
// openssl passwd, libxcrypt, libargon2; testdata/hashvectors.py), is
// recognised, named, and translated into exactly the form Kratos' layouts
// give; the translation verifies the vector's password and refuses
// another, re-derived here with golang.org/x/crypto (openssl for the crypt
// formats) the way Kratos v1.3.1's hash comparator reads each form. The
// e2e test (e2e/migration) signs each of them in through the real Kratos.
func TestHashVectors(t *testing.T) {
	for _, v := range legacyfixture.HashVectors {
		t.Run(v.Name, func(t *testing.T) {
			in := hashes.Inspect(v.Legacy)
			if in.Kind != hashes.Importable || in.Format != v.Format {
				t.Fatalf("Inspect: %s %q (%s), want importable %q", in.Kind, in.Format, in.Reason, v.Format)
			}
			if in.Kratos != v.Kratos {
				t.Fatalf("translated into\n  %s\nwant\n  %s", in.Kratos, v.Kratos)
			}
			if in.Translated != (v.Kratos != v.Legacy) {
				t.Fatalf("Translated = %v", in.Translated)
			}
			ok, err := kratosVerify(t, in.Kratos, v.Password)
			if err != nil || !ok {
				t.Fatalf("the translation does not verify the password: %v", err)
			}
			if ok, err := kratosVerify(t, in.Kratos, v.Password+"x"); ok || err != nil {
				t.Fatalf("the translation verifies a wrong password (%v)", err)
			}
		})
	}
}

func TestUnsupportedHashVectors(t *testing.T) {
	for _, v := range legacyfixture.UnsupportedHashVectors {
		t.Run(v.Name, func(t *testing.T) {
			in := hashes.Inspect(v.Legacy)
			if in.Kind != hashes.Unsupported || in.Format != v.Format || in.Kratos != "" || in.Reason == "" {
				t.Fatalf("Inspect: %+v, want unsupported %q", in, v.Format)
			}
		})
	}
}

// kratosVerify checks password against a hash in one of the forms Kratos
// v1.3.1 verifies, reading each as its hash comparator
// (hash/hash_comparator.go) does.
func kratosVerify(t *testing.T, h, password string) (bool, error) {
	pw := []byte(password)
	parts := strings.Split(h, "$")
	std := base64.StdEncoding.Strict()
	raw := base64.RawStdEncoding.Strict()
	equal := func(a, b []byte) bool { return subtle.ConstantTimeCompare(a, b) == 1 }
	digests := map[string]func() hash.Hash{"sha1": sha1.New, "sha256": sha256.New, "sha512": sha512.New, "md5": md5.New}
	sum := func(name string, b []byte) []byte { d := digests[name](); d.Write(b); return d.Sum(nil) }
	switch {
	case strings.HasPrefix(h, "$2"):
		err := bcrypt.CompareHashAndPassword([]byte(h), pw)
		if errors.Is(err, bcrypt.ErrMismatchedHashAndPassword) {
			return false, nil
		}
		return err == nil, err
	case strings.HasPrefix(h, "$argon2id$"), strings.HasPrefix(h, "$argon2i$"):
		var m, tc uint32
		var p uint8
		if len(parts) != 6 || parts[2] != "v=19" {
			return false, errors.New("argon2 layout")
		}
		if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &tc, &p); err != nil {
			return false, err
		}
		salt, err1 := raw.DecodeString(parts[4])
		key, err2 := raw.DecodeString(parts[5])
		if err := errors.Join(err1, err2); err != nil {
			return false, err
		}
		derive := argon2.IDKey
		if parts[1] == "argon2i" {
			derive = argon2.Key
		}
		return equal(key, derive(pw, salt, tc, m, p, uint32(len(key)))), nil
	case strings.HasPrefix(h, "$pbkdf2-"):
		var iter, l int
		if len(parts) != 5 {
			return false, errors.New("pbkdf2 layout")
		}
		if _, err := fmt.Sscanf(parts[2], "i=%d,l=%d", &iter, &l); err != nil {
			return false, err
		}
		salt, err1 := raw.DecodeString(parts[3])
		key, err2 := raw.DecodeString(parts[4])
		if err := errors.Join(err1, err2); err != nil {
			return false, err
		}
		prf := digests[strings.TrimPrefix(parts[1], "pbkdf2-")]
		if prf == nil || l != len(key) {
			return false, errors.New("pbkdf2 digest or length")
		}
		return equal(key, pbkdf2.Key(pw, salt, iter, len(key), prf)), nil
	case strings.HasPrefix(h, "$scrypt$"), strings.HasPrefix(h, "$firescrypt$"):
		var n, r, p int
		if _, err := fmt.Sscanf(parts[2], "ln=%d,r=%d,p=%d", &n, &r, &p); err != nil {
			return false, err
		}
		var fields [][]byte
		for _, f := range parts[3:] {
			b, err := std.DecodeString(f)
			if err != nil {
				return false, err
			}
			fields = append(fields, b)
		}
		if parts[1] == "scrypt" {
			key, err := scrypt.Key(pw, fields[0], n, r, p, len(fields[1]))
			return err == nil && equal(fields[1], key), err
		}
		// Firebase: salt, hash, salt separator, signer key.
		ck, err := scrypt.Key(pw, append(fields[0], fields[2]...), 1<<n, r, p, 32)
		if err != nil {
			return false, err
		}
		block, err := aes.NewCipher(ck)
		if err != nil {
			return false, err
		}
		out := make([]byte, len(fields[3]))
		cipher.NewCTR(block, make([]byte, aes.BlockSize)).XORKeyStream(out, fields[3])
		return equal(fields[1], out), nil
	case strings.HasPrefix(h, "{SSHA"):
		name, start, size := "sha1", 6, sha1.Size
		if strings.HasPrefix(h, "{SSHA256}") {
			name, start, size = "sha256", 9, sha256.Size
		} else if strings.HasPrefix(h, "{SSHA512}") {
			name, start, size = "sha512", 9, sha512.Size
		}
		b, err := base64.StdEncoding.DecodeString(h[start:])
		if err != nil || len(b) <= size {
			return false, errors.New("ssha layout")
		}
		return equal(b[:size], sum(name, append(append([]byte{}, pw...), b[size:]...))), nil
	case len(parts) == 5 && (parts[1] == "sha1" || parts[1] == "sha256" || parts[1] == "sha512" || parts[1] == "md5"):
		pf, err0 := std.DecodeString(strings.TrimPrefix(parts[2], "pf="))
		salt, err1 := std.DecodeString(parts[3])
		want, err2 := std.DecodeString(parts[4])
		if err := errors.Join(err0, err1, err2); err != nil {
			return false, err
		}
		in := strings.NewReplacer("{SALT}", string(salt), "{PASSWORD}", password).Replace(string(pf))
		return equal(want, sum(parts[1], []byte(in))), nil
	case len(parts) == 3 && parts[1] == "md5":
		want, err := std.DecodeString(parts[2])
		return err == nil && equal(want, sum("md5", pw)), err
	case strings.HasPrefix(h, "$hmac-"):
		want, err1 := std.DecodeString(parts[2])
		key, err2 := std.DecodeString(parts[3])
		if err := errors.Join(err1, err2); err != nil {
			return false, err
		}
		mac := hmac.New(digests[strings.TrimPrefix(parts[1], "hmac-")], key)
		mac.Write(pw)
		return equal(want, []byte(hex.EncodeToString(mac.Sum(nil)))), nil
	case strings.HasPrefix(h, "$md5-crypt$"), strings.HasPrefix(h, "$sha256-crypt$"), strings.HasPrefix(h, "$sha512-crypt$"):
		// Kratos puts $1, $5 or $6 back and hands the result to crypt;
		// openssl passwd computes the same crypt independently.
		id := map[string]string{"md5-crypt": "1", "sha256-crypt": "5", "sha512-crypt": "6"}[parts[1]]
		std := "$" + id + h[len(parts[1])+1:]
		salt := strings.Join(parts[2:len(parts)-1], "$")
		openssl, err := exec.LookPath("openssl")
		if err != nil {
			t.Skip("openssl is not installed: cannot check crypt hashes here (the e2e test checks them with Kratos)")
		}
		cmd := exec.Command(openssl, "passwd", "-"+id, "-salt", salt, "-stdin")
		cmd.Stdin = strings.NewReader(password + "\n")
		out, err := cmd.Output()
		if err != nil {
			return false, err
		}
		return bytes.Equal(bytes.TrimSpace(out), []byte(std)), nil
	}
	return false, fmt.Errorf("no Kratos form")
}
