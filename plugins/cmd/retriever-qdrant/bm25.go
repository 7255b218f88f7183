package main

import (
	"crypto/sha1"
	"fmt"
	"hash/fnv"
	"sort"
	"strings"
	"unicode"
)

// BM25 parameters for the document side; Qdrant applies the IDF part
// (the collection's sparse vector has the IDF modifier).
const (
	k1 = 1.2
	b  = 0.75
	// avgWords is the assumed average section length in words.
	avgWords = 120
)

var stopWords = map[string]bool{}

func init() {
	for _, w := range strings.Fields(`a an and are as at be but by can do does for from how i if in into is it its
		me my no not of on or so that the their then there these this to was we what when where which who why will
		with you your`) {
		stopWords[w] = true
	}
}

// Tokens splits text into lower-case words without stop words, with a
// light English stemming (plural and -ing/-ed endings) so "loops" finds
// "loop".
func Tokens(text string) []string {
	var out []string
	for _, w := range strings.FieldsFunc(strings.ToLower(text), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
		if len(w) < 2 || stopWords[w] {
			continue
		}
		out = append(out, stem(w))
	}
	return out
}

func stem(w string) string {
	for _, suffix := range []string{"ing", "ed", "es", "s"} {
		if strings.HasSuffix(w, suffix) && len(w)-len(suffix) >= 3 && !strings.HasSuffix(w, "ss") {
			return w[:len(w)-len(suffix)]
		}
	}
	return w
}

func termIndex(t string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(t))
	return h.Sum32()
}

// sparse turns weights by index into Qdrant's sorted indices and values.
func sparse(weights map[uint32]float32) ([]uint32, []float32) {
	idx := make([]uint32, 0, len(weights))
	for i := range weights {
		idx = append(idx, i)
	}
	sort.Slice(idx, func(i, j int) bool { return idx[i] < idx[j] })
	vals := make([]float32, len(idx))
	for i, x := range idx {
		vals[i] = weights[x]
	}
	return idx, vals
}

// DocumentVector is a chunk's sparse vector: per term, BM25's saturated
// term frequency tf·(k1+1) / (tf + k1·(1 − b + b·len/avg)).
func DocumentVector(text string) ([]uint32, []float32) {
	toks := Tokens(text)
	tf := map[uint32]float32{}
	for _, t := range toks {
		tf[termIndex(t)]++
	}
	norm := k1 * (1 - b + b*float32(len(toks))/avgWords)
	for i, f := range tf {
		tf[i] = f * (k1 + 1) / (f + norm)
	}
	return sparse(tf)
}

// QueryVector is a question's sparse vector: weight 1 per distinct term.
func QueryVector(text string) ([]uint32, []float32) {
	w := map[uint32]float32{}
	for _, t := range Tokens(text) {
		w[termIndex(t)] = 1
	}
	return sparse(w)
}

// namespace is the UUID namespace of point ids (UUIDv5 of "learnplatform
// chunk" in the URL namespace would do as well; any fixed value works).
var namespace = [16]byte{0x6b, 0xa7, 0xb8, 0x11, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8} // RFC 4122 URL namespace

// PointID is the chunk's point id: UUIDv5 (RFC 4122) of its id in the URL
// namespace, so the same chunk always lands on the same point.
func PointID(chunkID string) string { return uuid5(namespace, chunkID) }

func uuid5(ns [16]byte, name string) string {
	h := sha1.New()
	h.Write(ns[:])
	h.Write([]byte(name))
	s := h.Sum(nil)
	s[6] = (s[6] & 0x0f) | 0x50
	s[8] = (s[8] & 0x3f) | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", s[0:4], s[4:6], s[6:8], s[8:10], s[10:16])
}
