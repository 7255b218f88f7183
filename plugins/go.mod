module github.com/learnplatform/platform/plugins

go 1.26.0
