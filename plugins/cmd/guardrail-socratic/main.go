// Command guardrail-socratic keeps the tutor teaching rather than telling.
//
// Input: a learner who asks for the answer outright ("just give me the
// answer") or pastes an assignment has the message rewritten for the
// model with an instruction to guide instead of solve, and is told so.
// Output: an answer that hands over a full worked solution (a complete
// program or a long code block, or "here is the full solution") before
// the learner has shown an attempt in the conversation is replaced by a
// hint and a question.
//
// Config (JSON, all optional): {"min_code_lines": 6, "answer_requests":
// ["regexp", ...]} adds patterns that count as asking for the answer.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	"github.com/learnplatform/platform/plugins"
)

type config struct {
	MinCodeLines   int      `json:"min_code_lines"`
	AnswerRequests []string `json:"answer_requests"`
}

type socratic struct {
	minCodeLines int
	asks         []*regexp.Regexp
}

var defaultAsks = []string{
	`\b(just|simply)\s+(give|tell|show|write)\s+(me\s+)?(the\s+)?(answer|solution|code|result)`,
	`\b(give|tell|show|send)\s+me\s+the\s+(full\s+|complete\s+|whole\s+|final\s+)?(answer|solution|code)`,
	`\bwhat('?s| is)\s+the\s+(correct\s+|right\s+|final\s+)?(answer|solution)\b`,
	`\b(solve|do|finish|complete|write)\s+(it|this|that|the|my)(\s+(exercise|assignment|homework|task|problem|code))?\s+for\s+me\b`,
	`\bdo\s+my\s+(homework|assignment|exercise)`,
	`\bno\s+(hints|questions)\b.*\b(answer|solution|code)\b`,
	`\bi\s+(don'?t|do\s+not)\s+(want|need)\s+(a\s+)?(hint|hints|explanation|questions)`,
}

var (
	// Markers of a pasted assignment.
	homeworkMarkers = regexp.MustCompile(`(?im)^\s*(exercise|task|question|problem|assignment|aufgabe)\s*\d+|^\s*\(?[a-e]\)\s+\S|^\s*\d+[.)]\s+(write|implement|create|define|explain|compute|calculate|prove)\b|\b\d+\s*(points|marks|pts)\b|\bdue\s+(date|by|on)\b`)
	// An attempt of the learner's own: code, or saying they tried.
	attempt = regexp.MustCompile("(?i)```|\\bfunc\\s+\\w*\\(|:=|\\b(i\\s+(tried|wrote|attempted|think|got)|my\\s+(attempt|code|solution|answer|try)|here'?s\\s+what\\s+i|doesn'?t\\s+(work|compile)|error:|i'?m\\s+stuck)")
	// Phrases that announce a full solution.
	solutionPhrases = regexp.MustCompile(`(?i)\b(here('?s| is)\s+(the|a)\s+(full|complete|whole|entire|working|final)\s+(solution|program|code|answer|implementation))|\bthe\s+(final\s+)?answer\s+is\b`)
	codeFence       = regexp.MustCompile("(?s)```[a-zA-Z]*\\n(.*?)```")
)

func (s *socratic) Configure(_ context.Context, raw []byte) error {
	c := config{MinCodeLines: 6}
	if err := json.Unmarshal(raw, &c); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if c.MinCodeLines < 1 {
		return fmt.Errorf("min_code_lines: %d is below 1", c.MinCodeLines)
	}
	asks := make([]*regexp.Regexp, 0, len(defaultAsks)+len(c.AnswerRequests))
	for _, p := range append(append([]string{}, defaultAsks...), c.AnswerRequests...) {
		re, err := regexp.Compile("(?i)" + p)
		if err != nil {
			return fmt.Errorf("answer_requests: %q: %w", p, err)
		}
		asks = append(asks, re)
	}
	s.minCodeLines, s.asks = c.MinCodeLines, asks
	return nil
}

func (s *socratic) CheckInput(ctx context.Context, in plugins.InputCheck) (plugins.Decision, error) {
	msg := in.Message
	if strings.TrimSpace(msg) == "" {
		return plugins.Decision{Action: plugins.Allow}, ctx.Err()
	}
	for _, re := range s.asks {
		if re.MatchString(msg) {
			return plugins.Decision{
				Action: plugins.Rewrite,
				Text: "[Tutor note: the learner asks to be given the answer outright. Do not give the solution. " +
					"Acknowledge the wish, then ask one short guiding question about the step they are stuck on.]\n\n" + msg,
				LearnerMessage: "I'll help you get there yourself: that is what makes it stick.",
				Reason:         "asks for the answer: " + re.String(),
			}, ctx.Err()
		}
	}
	if n := len(homeworkMarkers.FindAllStringIndex(msg, -1)); n >= 2 || (n == 1 && len(msg) > 400) {
		return plugins.Decision{
			Action: plugins.Rewrite,
			Text: "[Tutor note: the learner pasted what looks like an assignment. Do not solve it. Ask what they have " +
				"tried and which part is unclear, and offer to explain the idea behind the first task.]\n\n" + msg,
			LearnerMessage: "That looks like an assignment; let's work through it together.",
			Reason:         fmt.Sprintf("pasted homework (%d markers)", n),
		}, ctx.Err()
	}
	return plugins.Decision{Action: plugins.Allow}, ctx.Err()
}

func (s *socratic) CheckOutput(ctx context.Context, out plugins.OutputCheck) (plugins.Decision, error) {
	if !s.fullSolution(out.Answer) || tried(out) {
		return plugins.Decision{Action: plugins.Allow}, ctx.Err()
	}
	return plugins.Decision{
		Action: plugins.Rewrite,
		Text:   hint(out.Answer),
		Reason: "full worked solution before the learner tried",
	}, ctx.Err()
}

// fullSolution: a complete program, a long code block, or an announced solution.
func (s *socratic) fullSolution(answer string) bool {
	if solutionPhrases.MatchString(answer) {
		return true
	}
	for _, m := range codeFence.FindAllStringSubmatch(answer, -1) {
		code := m[1]
		if strings.Contains(code, "package main") && strings.Contains(code, "func main(") {
			return true
		}
		lines := 0
		for _, l := range strings.Split(code, "\n") {
			if strings.TrimSpace(l) != "" {
				lines++
			}
		}
		if lines >= s.minCodeLines {
			return true
		}
	}
	return false
}

// tried: the learner showed an attempt in this message or an earlier one.
func tried(out plugins.OutputCheck) bool {
	if attempt.MatchString(out.Message) {
		return true
	}
	for _, t := range out.Context.History {
		if t.Role == "user" && attempt.MatchString(t.Text) {
			return true
		}
	}
	return false
}

// hint keeps the answer's opening prose (no code, no announced solution)
// and asks for an attempt.
func hint(answer string) string {
	prose := codeFence.ReplaceAllString(answer, "")
	var kept []string
	for _, sentence := range strings.SplitAfter(prose, ". ") {
		sentence = strings.TrimSpace(sentence)
		if sentence == "" || solutionPhrases.MatchString(sentence) || strings.ContainsAny(sentence, "`{}") {
			continue
		}
		kept = append(kept, sentence)
		if len(kept) == 2 {
			break
		}
	}
	h := "Let's not jump to the full solution yet."
	if len(kept) > 0 {
		h += " A hint: " + strings.Join(kept, " ")
	}
	return h + "\n\nWhat would your first step be? Write it down, even roughly, and I'll help you from there."
}

func main() { plugins.ServeGuardrail(&socratic{}) }
