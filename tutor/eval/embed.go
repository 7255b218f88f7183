package eval

import (
	"embed"
	"io/fs"
)

// The built-in scenario set and the courses it uses.
//
//go:embed scenarios/*.yaml
var scenarioFiles embed.FS

//go:embed courses
var courseFiles embed.FS

// Scenarios is the built-in scenarios folder (set.yaml and the scenario
// files); Courses the built-in courses folder.
func Scenarios() fs.FS { return sub(scenarioFiles, "scenarios") }

// Courses is the built-in courses folder: one folder of Markdown lessons
// per course, as `tutor ingest` reads them.
func Courses() fs.FS { return sub(courseFiles, "courses") }

func sub(f fs.FS, dir string) fs.FS {
	s, err := fs.Sub(f, dir)
	if err != nil {
		panic(err)
	}
	return s
}
