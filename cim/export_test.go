package cim

// IndicationsFollowing reports whether RunIndications follows the event
// log, so that a test may change the model and expect indications.
func IndicationsFollowing(p *ModelProvider) bool { return p.following.Load() }
