package cli

// Commands lists the names of the visible commands of the table, for the
// tests.
func Commands() []string {
	var out []string
	for _, c := range table() {
		if !c.hidden {
			out = append(out, c.name)
		}
	}
	return out
}

// FlagNames lists a command's flags as --name (or -n), for the tests.
func FlagNames(name string) []string { return flagNames(lookup(name)) }
