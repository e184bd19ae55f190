import sys, time, torch, torch.nn.functional as F
sys.path.insert(0, "/tmp/x")
from arch import cands
from mnistlab.models import create_model
torch.set_num_threads(int(sys.argv[1]))
x = torch.randn(128, 1, 28, 28).contiguous(memory_format=torch.channels_last); y = torch.randint(0, 10, (128,))
C = cands()
for name in sys.argv[2:]:
    mk = C[name] if name in C else (lambda name=name: create_model(name))
    for amp in (False, True, False, True):
        torch.manual_seed(0)
        m = mk().to(memory_format=torch.channels_last)
        opt = torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9)
        def step():
            with torch.autocast("cpu", torch.bfloat16, enabled=amp):
                out = m(x)
            loss = F.cross_entropy(out.float(), y); opt.zero_grad(); loss.backward(); opt.step()
        for _ in range(5): step()
        t = time.perf_counter()
        for _ in range(20): step()
        print(f"{name:28s} amp={amp!s:5} step {1000*(time.perf_counter()-t)/20:6.2f} ms", flush=True)
