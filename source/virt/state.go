package virt

import (
	"strconv"

	"mgmtd/model"
)

// libvirt's virDomainState values (libvirt-domain.h).
const (
	stateNoState     = 0
	stateRunning     = 1
	stateBlocked     = 2
	statePaused      = 3
	stateShutdown    = 4
	stateShutoff     = 5
	stateCrashed     = 6
	statePMSuspended = 7
)

// vmState maps a virDomainState number to the model's state word. A state
// libvirt does not define (or VIR_DOMAIN_NOSTATE) is unknown.
func vmState(state int32) model.VMState {
	switch state {
	case stateRunning:
		return model.VMRunning
	case stateBlocked:
		return model.VMBlocked
	case statePaused:
		return model.VMPaused
	case stateShutdown:
		return model.VMShutdown
	case stateShutoff:
		return model.VMShutoff
	case stateCrashed:
		return model.VMCrashed
	case statePMSuspended:
		return model.VMPMSuspended
	}
	return model.VMUnknown
}

// Reason words per state, indexed by libvirt's reason code
// (virDomainRunningReason, virDomainPausedReason, ... in libvirt-domain.h,
// libvirt 9.0). Code 0 is always "unknown".
var reasonWords = map[int32][]string{
	stateNoState: {"unknown"},
	stateRunning: {"unknown", "booted", "migrated", "restored", "from snapshot", "unpaused",
		"migration canceled", "save canceled", "wakeup", "crashed", "postcopy", "postcopy failed"},
	stateBlocked: {"unknown"},
	statePaused: {"unknown", "user", "migration", "save", "dump", "ioerror", "watchdog",
		"from snapshot", "shutting down", "snapshot", "crashed", "starting up", "postcopy",
		"postcopy failed", "api error"},
	stateShutdown:    {"unknown", "user"},
	stateShutoff:     {"unknown", "shutdown", "destroyed", "crashed", "migrated", "saved", "failed", "from snapshot", "daemon"},
	stateCrashed:     {"unknown", "panicked"},
	statePMSuspended: {"unknown"},
}

// reasonWord names the reason code of a state; a code this table does not
// know (a newer libvirt) is rendered as "reason N" rather than guessed.
func reasonWord(state, reason int32) string {
	words, ok := reasonWords[state]
	if !ok || reason < 0 || int(reason) >= len(words) {
		return "reason " + strconv.Itoa(int(reason))
	}
	return words[reason]
}

// libvirt's virDomainEventType values, for log messages.
var eventWords = []string{"defined", "undefined", "started", "suspended", "resumed", "stopped", "shutdown", "pmsuspended", "crashed"}

func eventWord(ev int32) string {
	if ev < 0 || int(ev) >= len(eventWords) {
		return "event " + strconv.Itoa(int(ev))
	}
	return eventWords[ev]
}
