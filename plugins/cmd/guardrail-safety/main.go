// Command guardrail-safety screens what reaches the model and the learner.
//
// Input: a message with prompt-injection patterns ("ignore previous
// instructions", "reveal your system prompt", role tags, ...) is blocked;
// retrieved chunks with such patterns are left out of the prompt; emails
// and phone numbers are redacted from the message and the chunks before
// the model sees them; a message that matches an off-topic pattern
// (weather, stocks, dating, ...) and shares no word with the retrieved
// course material is refused. Output: contact details are redacted.
//
// Config (JSON, all optional): {"injection": ["regexp", ...], "off_topic":
// ["regexp", ...]} add patterns; {"allow_off_topic": true} turns the
// off-topic refusal off.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"unicode"

	"github.com/learnplatform/platform/plugins"
)

type config struct {
	Injection     []string `json:"injection"`
	OffTopic      []string `json:"off_topic"`
	AllowOffTopic bool     `json:"allow_off_topic"`
}

var defaultInjection = []string{
	`\b(ignore|disregard|forget|override)\b.{0,40}\b(previous|prior|above|earlier|all|your|the)\b.{0,20}\b(instructions?|rules|prompts?|guidelines|directions)`,
	`\b(reveal|show|print|repeat|output|leak)\b.{0,30}\b(system|hidden|initial)\s+(prompt|message|instructions)`,
	`\byou\s+are\s+now\s+(a|an|in|dan|no\s+longer)\b`,
	`\b(developer|god|jailbreak|dan)\s+mode\b`,
	`\bpretend\s+(that\s+)?you\s+(have|are)\s+(no|not|free|without)\b`,
	`<\|?(im_start|im_end|system|endoftext)\|?>`,
	`(?m)^\s*#{2,}\s*(system|instruction)s?\b`,
	`\bnew\s+instructions\s*:`,
}

var defaultOffTopic = []string{
	`\b(weather|forecast)\b`,
	`\b(stock|stocks|share\s+price|crypto|bitcoin|lottery|betting|casino)\b`,
	`\b(dating|girlfriend|boyfriend|horoscope|zodiac)\b`,
	`\b(election|president|politic(s|al)|vote\s+for)\b`,
	`\b(recipe|cook|cooking)\b`,
	`\b(celebrity|gossip|football\s+score|match\s+result)\b`,
	`\b(write|compose)\s+(me\s+)?(a\s+)?(poem|song|love\s+letter)\b`,
	`\btell\s+me\s+a\s+joke\b`,
}

var (
	email = regexp.MustCompile(`(?i)\b[a-z0-9._%+-]+@[a-z0-9.-]+\.[a-z]{2,}\b`)
	phone = regexp.MustCompile(`(?:\+\d{1,3}[\s.-]?)?(?:\(\d{2,5}\)[\s.-]?)?\b\d{3,4}[\s.-]\d{3,4}(?:[\s.-]\d{2,4})?\b`)
)

type safety struct {
	injection, offTopic []*regexp.Regexp
	allowOffTopic       bool
}

func compile(key string, defaults, extra []string) ([]*regexp.Regexp, error) {
	var out []*regexp.Regexp
	for _, p := range append(append([]string{}, defaults...), extra...) {
		re, err := regexp.Compile("(?is)" + p)
		if err != nil {
			return nil, fmt.Errorf("%s: %q: %w", key, p, err)
		}
		out = append(out, re)
	}
	return out, nil
}

func (s *safety) Configure(_ context.Context, raw []byte) error {
	var c config
	if err := json.Unmarshal(raw, &c); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	var err error
	if s.injection, err = compile("injection", defaultInjection, c.Injection); err != nil {
		return err
	}
	if s.offTopic, err = compile("off_topic", defaultOffTopic, c.OffTopic); err != nil {
		return err
	}
	s.allowOffTopic = c.AllowOffTopic
	return nil
}

func (s *safety) injected(text string) *regexp.Regexp {
	for _, re := range s.injection {
		if re.MatchString(text) {
			return re
		}
	}
	return nil
}

// redact replaces emails and phone numbers.
func redact(text string) string {
	text = email.ReplaceAllString(text, "[email removed]")
	return phone.ReplaceAllStringFunc(text, func(m string) string {
		if digits := strings.Count(strings.Map(keepDigits, m), ""); digits-1 < 7 {
			return m // too short for a phone number: a version, a time, a range
		}
		return "[phone removed]"
	})
}

func keepDigits(r rune) rune {
	if unicode.IsDigit(r) {
		return r
	}
	return -1
}

func (s *safety) CheckInput(ctx context.Context, in plugins.InputCheck) (plugins.Decision, error) {
	d := plugins.Decision{Action: plugins.Allow}
	var reasons []string
	for _, c := range in.Chunks {
		if re := s.injected(c.Text); re != nil {
			d.DropChunks = append(d.DropChunks, c.ID)
			reasons = append(reasons, "injection in chunk "+c.ID)
			continue
		}
		if r := redact(c.Text); r != c.Text {
			if d.ChunkRewrites == nil {
				d.ChunkRewrites = map[string]string{}
			}
			d.ChunkRewrites[c.ID] = r
			reasons = append(reasons, "contact details in chunk "+c.ID)
		}
	}
	msg := in.Message
	if re := s.injected(msg); re != nil {
		return plugins.Decision{Action: plugins.Block, Reason: "prompt injection in message: " + re.String(),
			LearnerMessage: "I can't follow instructions that try to change how the tutor works. Ask me about the course instead."}, ctx.Err()
	}
	if !s.allowOffTopic && strings.TrimSpace(msg) != "" {
		for _, re := range s.offTopic {
			if re.MatchString(msg) && !sharesWords(msg, in.Chunks) {
				course := in.Context.Course
				if course == "" {
					course = "your course"
				}
				return plugins.Decision{Action: plugins.Block, Reason: "off topic: " + re.String(),
					LearnerMessage: fmt.Sprintf("I can only help with %s. What would you like to understand about it?", course)}, ctx.Err()
			}
		}
	}
	if r := redact(msg); r != msg {
		d.Action, d.Text = plugins.Rewrite, r
		d.LearnerMessage = "I left your contact details out of what I pass on."
		reasons = append(reasons, "contact details in message")
	}
	d.Reason = strings.Join(reasons, "; ")
	return d, ctx.Err()
}

// sharesWords: the message has a word of four letters or more in common
// with the retrieved material (then it is about the course after all).
func sharesWords(msg string, chunks []plugins.Chunk) bool {
	words := map[string]bool{}
	for _, w := range strings.FieldsFunc(strings.ToLower(msg), notLetter) {
		if len([]rune(w)) >= 4 {
			words[w] = true
		}
	}
	for _, c := range chunks {
		for _, w := range strings.FieldsFunc(strings.ToLower(c.Section+" "+c.Text), notLetter) {
			if words[w] {
				return true
			}
		}
	}
	return false
}

func notLetter(r rune) bool { return !unicode.IsLetter(r) }

func (s *safety) CheckOutput(ctx context.Context, out plugins.OutputCheck) (plugins.Decision, error) {
	if r := redact(out.Answer); r != out.Answer {
		return plugins.Decision{Action: plugins.Rewrite, Text: r, Reason: "contact details in answer"}, ctx.Err()
	}
	return plugins.Decision{Action: plugins.Allow}, ctx.Err()
}

func main() { plugins.ServeGuardrail(&safety{}) }
