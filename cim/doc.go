// Package cim is mgmtd's cluster provider for the WBEM server of package
// wbem: [ModelProvider] serves the model snapshot as CIM instances of
// MGMTD_* classes derived from the DMTF CIM 2.41 schema, turns CIM method
// calls into actions, and turns model events into indications.
//
// Dependencies: cim imports model, auth, action and wbem (with
// wbem/cimxml). The wiring (package mgmtd) hands it the store, the event
// log and the action executor, and runs it under a wbem.Server with the
// daemon's authenticator and audit hooks.
//
//   - Model -> classes (classes.go, instances.go, model.go): namespace
//     root/cimv2 holds the cluster, its nodes, hosts and VMs (one
//     MGMTD_ComputerSystem per name), resources as CIM_Service subclasses
//     weak to the cluster, and the associations between them (membership,
//     active on, containment, order, VM on host, fencing, capabilities,
//     software); interop holds the object manager, namespaces, registered
//     profiles (DSP1033) and the indication subscriptions. Instances are
//     built from the current snapshot when the server asks for them, keyed
//     by configured names only, so a path stays valid across failovers.
//   - Methods (methods.go): RequestStateChange, MoveTo, Cleanup, Fence and
//     MigrateVirtualSystemToHost become an action.Request submitted to the
//     [ModelOptions] Actuator with the caller's *auth.Identity (the
//     wbem.Principal's Identity) in ctx and in action.Actor, channel "cim";
//     a running task is answered 4096 with a MGMTD_ConcreteJob, which
//     follows the action.Task. One function maps the action errors to CIM
//     results.
//   - Indications (indications.go): [ModelProvider.RunIndications] follows
//     the model's event log and builds MGMTD_InstModification and
//     MGMTD_AlertIndication instances; the subscriptions, the matching of
//     their filters and the delivery to listeners are wbem's
//     (wbem.SubscriptionStore, wbem.Delivery).
package cim
