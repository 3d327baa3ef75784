# Conformance check of mgmtd's WBEM server with pywbem (run by hand, see docs/cim.md):
#   PYTHONPATH=<pywbem>:<yamlloader>/src /usr/bin/python3 pywbem-check.py http://127.0.0.1:PORT
# against a server with the test fixture of package wbem (user:pass).
import sys, pywbem
url = sys.argv[1]
conn = pywbem.WBEMConnection(url, ('user', 'pass'), default_namespace='root/cimv2', use_pull_operations=True)
def show(label, f):
    try:
        r = f()
        print('OK  ', label, r)
    except Exception as e:
        print('FAIL', label, type(e).__name__, e)
show('EI', lambda: [str(i.path) for i in conn.EnumerateInstances('PCMK_ClusterNode')])
show('EIN', lambda: [str(p) for p in conn.EnumerateInstanceNames('CIM_ComputerSystem')])
p = pywbem.CIMInstanceName('PCMK_ClusterNode', keybindings={'CreationClassName': 'PCMK_ClusterNode', 'Name': 'node1'}, namespace='root/cimv2')
show('GI', lambda: dict(conn.GetInstance(p).items()))
show('GI proplist', lambda: list(conn.GetInstance(p, PropertyList=['Name', 'IsDC']).keys()))
show('Associators', lambda: [str(i.path) for i in conn.Associators(p, AssocClass='PCMK_ParticipatingCS', ResultClass='PCMK_Cluster')])
show('AssociatorNames', lambda: [str(x) for x in conn.AssociatorNames(p)])
show('References', lambda: [str(i.path) for i in conn.References(p)])
show('ReferenceNames', lambda: [str(x) for x in conn.ReferenceNames(p, Role='Antecedent')])
show('InvokeMethod instance', lambda: conn.InvokeMethod('RequestStateChange', p, RequestedState=pywbem.Uint16(3), TimeoutPeriod=pywbem.CIMDateTime('00000000000500.000000:000')))
show('GetProperty via GI', lambda: conn.GetInstance(p, PropertyList=['EnabledState'])['EnabledState'])
show('InvokeMethod class', lambda: conn.InvokeMethod('MigrateVirtualSystemToHost', pywbem.CIMClassName('PCMK_VirtualSystemMigrationService', namespace='root/cimv2'), DestinationHost='node2'))
show('ExecQuery', lambda: [str(i.path) for i in conn.ExecQuery('WQL', "SELECT * FROM PCMK_ClusterNode WHERE Name = 'node1'")])
c = None
def gc():
    global c
    c = conn.GetClass('PCMK_ClusterNode', LocalOnly=False, IncludeQualifiers=True)
    return (list(c.properties.keys()), list(c.methods.keys()), [ (k, v.type) for k, v in c.methods['RequestStateChange'].parameters.items()], c.properties['EnabledState'].qualifiers['ValueMap'].value[:3])
show('GetClass', gc)
show('EnumerateClassNames', lambda: conn.EnumerateClassNames(DeepInheritance=True))
show('EnumerateClasses', lambda: [x.classname for x in conn.EnumerateClasses(ClassName='CIM_ComputerSystem', DeepInheritance=True)])
show('IterEnumerateInstances (pull, 1 per pull)', lambda: [str(i.path) for i in conn.IterEnumerateInstances('CIM_ComputerSystem', MaxObjectCount=1)])
show('IterEnumerateInstancePaths', lambda: [str(x) for x in conn.IterEnumerateInstancePaths('PCMK_ClusterNode', MaxObjectCount=1)])
show('IterAssociatorInstances', lambda: [str(i.path) for i in conn.IterAssociatorInstances(p, MaxObjectCount=1)])
show('IterReferenceInstancePaths', lambda: [str(x) for x in conn.IterReferenceInstancePaths(p, MaxObjectCount=1)])
show('IterQueryInstances', lambda: [i['Name'] for i in conn.IterQueryInstances('DMTF:CQL', 'SELECT * FROM PCMK_ClusterNode WHERE NodeID > 1', MaxObjectCount=1).generator])
def openclose():
    r = conn.OpenEnumerateInstances('PCMK_ClusterNode', MaxObjectCount=1)
    conn.CloseEnumeration(r.context)
    try:
        conn.PullInstancesWithPath(r.context, MaxObjectCount=1)
    except pywbem.CIMError as e:
        return ('closed context ->', e.status_code_name)
show('Open/Close/Pull', openclose)
def unknown_ns():
    try:
        conn.EnumerateInstanceNames('CIM_Namespace', namespace='root/interop')
    except pywbem.CIMError as e:
        if e.status_code == 3:
            return 'CIM_ERR_INVALID_NAMESPACE as pywbem discovery needs'
        raise
    raise AssertionError('no error for an unknown namespace')
show('unknown namespace', unknown_ns)
srv = pywbem.WBEMServer(conn)
show('server.interop_ns', lambda: srv.interop_ns)
show('server.namespaces', lambda: srv.namespaces)
show('server.brand', lambda: srv.brand)
show('server.version', lambda: srv.version)
show('server.profiles', lambda: [(p['RegisteredName'], p['RegisteredVersion']) for p in srv.profiles])
show('get_selected_profiles', lambda: [p['RegisteredName'] for p in srv.get_selected_profiles('Other', 'Pacemaker Cluster')])
show('get_central_instances', lambda: [str(x) for x in srv.get_central_instances(srv.get_selected_profiles('Other', 'Pacemaker Cluster')[0].path, central_class='PCMK_Cluster')])
