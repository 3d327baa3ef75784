module mgmtd/tools/goagentx-bench

go 1.26.8

require github.com/posteo/go-agentx v0.3.0
