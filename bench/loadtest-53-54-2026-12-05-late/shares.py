import sys,collections
path=sys.argv[1]
samples=[];cur=None
for line in open(path):
    line=line.rstrip('\n')
    if not line.strip():
        if cur: samples.append(cur); cur=None
        continue
    if line[0] in ' \t':
        if cur is not None:
            p=line.strip().split(' ',1); cur[1].append(p[1] if len(p)>1 else p[0])
    else:
        if cur: samples.append(cur)
        head=line.split()
        cur=(head,[])
if cur: samples.append(cur)
# find server pid: the process with thread comm yeyak-booking
pids=collections.Counter()
spid=None
for h,s in samples:
    if h[0]=='yeyak-booking': spid=h[1].split('/')[0]
srv=[s for h,s in samples if h[1].split('/')[0]==spid]
print(path,'all',len(samples),'server',len(srv))
keys=sys.argv[2:]
for k in keys:
    n=sum(1 for s in srv if any(k in f for f in s))
    print('  %5.2f%% of server  %s'%(100*n/len(srv),k))
print('  both in_one_read+execute_batch: %.2f%%'%(100*sum(1 for s in srv if any('in_one_read' in f for f in s) and any('execute_batch' in f for f in s))/len(srv)))
print('  in_one_read + BEGIN/prepare: %.2f%%'%(100*sum(1 for s in srv if any('in_one_read' in f for f in s) and any('unchecked_transaction' in f or 'ReadTransaction' in f for f in s))/len(srv)))
