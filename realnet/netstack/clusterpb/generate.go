// Package clusterpb is the generated gRPC code for the cluster service
// (cluster.proto). The generated files are committed so that building and
// testing never needs protoc; regenerate after editing the .proto with
// go generate, which needs protoc, protoc-gen-go v1.36.12 and
// protoc-gen-go-grpc v1.6.2 on PATH.
package clusterpb

//go:generate protoc --go_out=. --go_opt=paths=source_relative --go-grpc_out=. --go-grpc_opt=paths=source_relative cluster.proto
