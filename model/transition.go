package model

import "time"

// TransitionRef links an event to the Pacemaker transition whose
// operation produced it: the controller's transition number from the
// operation's transition-key and, when known, the scheduler input the DC
// saved for it.
type TransitionRef struct {
	Number int    `json:"number"`
	Key    string `json:"key,omitempty"` // the operation's transition-key
	// Input is the scheduler input's file name on the DC (pe-input-N.bz2,
	// pe-warn-N.bz2, pe-error-N.bz2); InputBy says how it was found: "log"
	// (the scheduler's "Calculated transition" line) or "time" (the newest
	// input saved before the operation ran).
	Input   string `json:"input,omitempty"`
	InputBy string `json:"input_by,omitempty"`
}

// TransitionInput is one scheduler input the DC saved.
type TransitionInput struct {
	Name   string    `json:"name"`
	Kind   string    `json:"kind"` // input, warn, error
	Series int       `json:"series"`
	Time   time.Time `json:"time"`
	Size   int64     `json:"size"`
	// Transition is the controller's number for it when the log says so
	// (-1 when unknown).
	Transition int `json:"transition"`
}

// Score is an allocation score the scheduler computed.
type Score struct {
	Resource string `json:"resource"`
	Node     string `json:"node"`
	Score    string `json:"score"`
	Function string `json:"function,omitempty"`
}

// Explanation answers "explain transition": the actions Pacemaker's
// scheduler takes from that input, computed again by crm_simulate on a
// private copy, and the scores on request.
type Explanation struct {
	Input   TransitionInput `json:"input"`
	Actions []SimAction     `json:"actions"`
	Scores  []Score         `json:"scores,omitempty"`
}
