package cli

// Commands lists the names in the command table, for the tests.
func Commands() []string {
	var out []string
	for _, c := range table() {
		out = append(out, c.name)
	}
	return out
}
