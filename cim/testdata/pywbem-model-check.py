# Conformance check of mgmtd's model provider with pywbem (run by hand, see
# docs/cim.md):
#   PYTHONPATH=<pywbem>:<yamlloader>/src /usr/bin/python3 pywbem-model-check.py http://127.0.0.1:PORT LISTENER_PORT
# against a server with cim.NewModelProvider over the demo store (user:pass)
# whose player moves on to the next demo steps a few seconds after start.
import sys, time, threading, pywbem
url, lport = sys.argv[1], int(sys.argv[2])
conn = pywbem.WBEMConnection(url, ('user', 'pass'), default_namespace='root/cimv2', use_pull_operations=True)
def show(label, f):
    try:
        print('OK  ', label, f())
    except Exception as e:
        print('FAIL', label, type(e).__name__, e)

srv = pywbem.WBEMServer(conn)
show('interop ns', lambda: srv.interop_ns)
show('namespaces', lambda: srv.namespaces)
show('brand/version', lambda: (srv.brand, srv.version))
show('profiles', lambda: [(p['RegisteredName'], p['RegisteredVersion']) for p in srv.profiles])
for prof in srv.profiles:
    show('central instances (%s)' % prof['RegisteredName'], lambda: [str(x) for x in srv.get_central_instances(prof.path, central_class='CIM_ManagedElement')])
show('EI nodes (pull)', lambda: [(i['Name'], i['NodeState']) for i in conn.IterEnumerateInstances('MGMTD_ComputerSystem', MaxObjectCount=2) if i['IsClusterNode']])
show('EI resources', lambda: len(conn.EnumerateInstances('CIM_Service')))
hv1 = pywbem.CIMInstanceName('MGMTD_ComputerSystem', keybindings={'CreationClassName': 'MGMTD_ComputerSystem', 'Name': 'hv1'}, namespace='root/cimv2')
show('Associators hv1 (active resources)', lambda: sorted(str(i['Name']) for i in conn.Associators(hv1, AssocClass='MGMTD_ResourceActiveOn')))
show('IterReferenceInstances hv1', lambda: sorted(i.classname for i in conn.IterReferenceInstances(hv1, MaxObjectCount=3)))
vip = pywbem.CIMInstanceName('MGMTD_ClusterResource', keybindings={'SystemCreationClassName': 'MGMTD_Cluster', 'SystemName': 'demo', 'CreationClassName': 'MGMTD_ClusterResource', 'Name': 'vip-db'}, namespace='root/cimv2')
show('InvokeMethod RequestStateChange', lambda: conn.InvokeMethod('RequestStateChange', vip, RequestedState=pywbem.Uint16(3)))
show('GetInstance job', lambda: dict(conn.GetInstance(pywbem.CIMInstanceName('MGMTD_ConcreteJob', keybindings={'InstanceID': 'MGMTD:Job:t1'}, namespace='root/cimv2')).items())['JobState'])
svc = pywbem.CIMInstanceName('MGMTD_VirtualSystemMigrationService', keybindings={'SystemCreationClassName': 'MGMTD_Cluster', 'SystemName': 'demo', 'CreationClassName': 'MGMTD_VirtualSystemMigrationService', 'Name': 'migration'}, namespace='root/cimv2')
vm = pywbem.CIMInstanceName('MGMTD_ComputerSystem', keybindings={'CreationClassName': 'MGMTD_ComputerSystem', 'Name': 'vm-app'}, namespace='root/cimv2')
show('InvokeMethod MigrateVirtualSystemToHost', lambda: conn.InvokeMethod('MigrateVirtualSystemToHost', svc, ComputerSystem=vm, DestinationHost='hv2'))
show('ExecQuery', lambda: [str(i['Name']) for i in conn.ExecQuery('WQL', "SELECT * FROM MGMTD_ComputerSystem WHERE NodeState = 2")])
show('GetClass ValueMap', lambda: conn.GetClass('MGMTD_ComputerSystem', LocalOnly=False).properties['NodeState'].qualifiers['Values'].value)

got = []
ev = threading.Event()
def cb(ind, host):
    got.append(ind)
    ev.set()
lst = pywbem.WBEMListener('127.0.0.1', http_port=lport, https_port=None)
lst.add_callback(cb)
lst.start()
sm = pywbem.WBEMSubscriptionManager(subscription_manager_id='check')
sid = sm.add_server(srv)
dest = sm.add_destination(sid, 'http://127.0.0.1:%d' % lport, owned=True, destination_id='check')
flt = sm.add_filter(sid, 'root/cimv2', 'SELECT * FROM CIM_AlertIndication', owned=True, filter_id='alerts')
subs = sm.add_subscriptions(sid, flt.path, [dest.path], owned=True)
print('OK   subscriptions', [str(s.path.classname) for s in subs])
ok = ev.wait(60)
time.sleep(1)
print('OK  ' if ok else 'FAIL', 'indications received', [(i.classname, i['EventType'], i['Message']) for i in got][:5])
sm.remove_server(sid)
lst.stop()
