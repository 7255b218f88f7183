// Package proto is the generated Go code of the plugin contracts
// (retriever.proto, guardrail.proto, common.proto). The .pb.go files are
// committed so building needs no protoc; after changing a .proto, run
// `go generate ./proto` in plugins/ with protoc (Debian: protobuf-compiler),
// protoc-gen-go v1.36.12 and protoc-gen-go-grpc v1.6.2 on PATH.
package proto

//go:generate protoc -I . --go_out=. --go_opt=paths=source_relative --go-grpc_out=. --go-grpc_opt=paths=source_relative common.proto retriever.proto guardrail.proto
