// Package tutor is the AI tutor service: the ChatKit-protocol API, threads
// in PostgreSQL, the agent, the plugin host and the learner web app. This
// root package is the domain (threads, items, courses, enrollments, usage,
// error codes) and the interfaces the sub-packages implement; it imports
// only the standard library and kit/account. Sub-packages hold one
// dependency or protocol each (config/ the configuration file), and
// cmd/tutor wires them.
package tutor
