// Package eval is the tutoring evaluation (`tutor eval`): does a given
// model, with the tutor's prompt, guardrails and retrieval, teach rather
// than tell?
//
// A fixed, versioned set of learner scenarios (scenarios/*.yaml, embedded;
// the courses they use under courses/) runs against the tutor as
// configured, through the same code path as a real conversation: a
// ChatKit request, the handler (tutor/chatkit), the agent, the plugins and
// the model, built by tutor/pipeline exactly as `tutor serve` builds them;
// only the stores are in memory (tutor/memstore), seeded with the courses
// and each scenario's learner enrolled at the scenario's stage.
//
// Answers are graded without a second model (eval/grade): checks on the
// answer's text (no complete solution, forbidden and required patterns, a
// question back, no refusal where an explanation is right), on its sources
// (only lessons the learner has unlocked, cited where the category needs
// it) and against the locked lessons' text and the system prompt (no runs
// of their words). A grader model (any OpenAI-compatible endpoint) can add
// a rubric score, reported apart from pass and fail as model-graded.
//
// This package runs the evaluation (Run, and Main for `tutor eval`) and
// embeds the built-in set; eval/scenario loads a set, eval/grade grades,
// eval/report reports, and eval/standin holds the scripted stand-in models
// (good, leaky, refuser) that answer like those kinds of tutor, so the
// tests check the evaluation itself: the good one passes every scenario,
// the leaky one fails exactly the answer-leak, injection and locked-stage
// categories, the refuser exactly those where an explanation is right.
package eval
