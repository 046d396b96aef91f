"""The NCF networks: full-catalogue scoring equals pairwise forward, pretraining, training step."""

from __future__ import annotations

import pytest
import torch

from implicit_ncf import networks as model_module
from implicit_ncf.model import GMF, MLP, NCFModule, NeuMF, build_network, score_all_batched

N_USERS, N_ITEMS = 13, 29


@pytest.mark.parametrize("model", ["mf", "gmf", "mlp", "neumf"])
def test_score_all_equals_forward_on_every_pair(model):
    torch.manual_seed(0)
    net = build_network(model, N_USERS, N_ITEMS, n_factors=6, hidden_layers=(10, 6, 4)).eval()
    for p in net.parameters():  # move away from the near-zero initialisation
        torch.nn.init.normal_(p, std=0.5)
    users = torch.arange(N_USERS)
    with torch.no_grad():
        fast = score_all_batched(net, users, block=4)
        pairs_u = users.repeat_interleave(N_ITEMS)
        pairs_i = torch.arange(N_ITEMS).repeat(N_USERS)
        slow = net(pairs_u, pairs_i).view(N_USERS, N_ITEMS)
    torch.testing.assert_close(fast, slow, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("elements", [1, 400, 1 << 19])  # 1 user, 2 users, all users per block
@pytest.mark.parametrize("grad", [False, True])  # the buffered tail, or the autograd-friendly path
@pytest.mark.parametrize("model", ["mlp", "neumf"])
def test_mlp_scoring_blocks_leave_scores_unchanged(monkeypatch, elements, grad, model):
    torch.manual_seed(2)
    net = build_network(model, N_USERS, N_ITEMS, n_factors=6, hidden_layers=(10, 6, 4)).eval()
    for p in net.parameters():
        torch.nn.init.normal_(p, std=0.5)
    users = torch.arange(N_USERS)
    with torch.no_grad():
        pairs = net(users.repeat_interleave(N_ITEMS), torch.arange(N_ITEMS).repeat(N_USERS))
    monkeypatch.setattr(model_module, "_SCORE_BLOCK_ELEMENTS", elements)
    with torch.set_grad_enabled(grad):
        scores = net.score_all(users)
    torch.testing.assert_close(scores.detach(), pairs.view(N_USERS, N_ITEMS), rtol=1e-5, atol=1e-5)


def test_mlp_single_layer_tower():
    net = MLP(N_USERS, N_ITEMS, hidden_layers=(8,))
    assert net(torch.tensor([0, 1]), torch.tensor([2, 3])).shape == (2,)
    torch.testing.assert_close(
        net.score_all(torch.tensor([0]))[0, 2], net(torch.tensor([0]), torch.tensor([2]))[0]
    )


def test_neumf_pretrained_initialisation_combines_towers():
    torch.manual_seed(1)
    gmf, mlp = GMF(N_USERS, N_ITEMS, 4), MLP(N_USERS, N_ITEMS, (8, 4))
    neumf = NeuMF(N_USERS, N_ITEMS, 4, (8, 4))
    neumf.load_pretrained(gmf, mlp, alpha=0.5)
    u, i = torch.tensor([0, 3, 5]), torch.tensor([1, 2, 28])
    with torch.no_grad():
        expected = 0.5 * gmf(u, i) + 0.5 * mlp(u, i)
        torch.testing.assert_close(neumf(u, i), expected)


def test_unknown_model_name():
    with pytest.raises(ValueError, match="model must be one of"):
        build_network("deepfm", 2, 2, n_factors=2, hidden_layers=(4,))


@pytest.mark.filterwarnings(r"ignore:You are trying to `self.log\(\)`")
def test_training_step_loss_and_l2_penalty():
    torch.manual_seed(0)
    net = GMF(N_USERS, N_ITEMS, 4)
    batch = (torch.tensor([0, 1]), torch.tensor([2, 3]), torch.tensor([1.0, 0.0]))
    plain = NCFModule(net).training_step(batch, 0)
    penalised = NCFModule(net, weight_decay=10.0).training_step(batch, 0)
    assert penalised > plain > 0


@pytest.mark.parametrize("model", ["mf", "gmf", "mlp", "neumf"])
def test_forward_rows_are_forward_and_the_embedding_rows(model):
    torch.manual_seed(0)
    net = build_network(model, N_USERS, N_ITEMS, n_factors=6, hidden_layers=(10, 6, 4))
    for p in net.parameters():
        torch.nn.init.normal_(p, std=0.5)
    users, items = torch.tensor([0, 3, 3, 12]), torch.tensor([1, 1, 28, 5])
    logits, rows = net.forward_rows(users, items)
    assert torch.equal(logits, net(users, items))
    expected = net.embeddings(users, items)
    assert len(rows) == len(expected) == (4 if model == "neumf" else 2)
    for row, want in zip(rows, expected, strict=True):
        assert torch.equal(row, want)


def _loss_extra(loss: str, n: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    if loss == "bce":
        return (torch.rand(n, generator=g) < 0.5).float()
    if loss == "bpr":
        return torch.randint(0, N_ITEMS, (n, 3), generator=g)
    if loss == "softmax":
        return torch.randint(0, N_ITEMS, (5,), generator=g)  # shared negatives
    return torch.rand(n, generator=g)  # ials: each positive's catalogue weight


@pytest.mark.parametrize("loss", ["bce", "bpr", "softmax", "ials"])
@pytest.mark.parametrize("model", ["mf", "gmf", "mlp", "neumf"])
def test_training_loss_looks_rows_up_once_and_equals_the_formula(model, loss):
    """The step's loss with its L2 penalty (logits and rows from one lookup) equals the loss
    function on its own plus ``weight_decay * sum ||embeddings||**2 / n``, value and gradient,
    while each embedding table is looked up once per batch instead of twice."""
    torch.manual_seed(0)
    net = build_network(model, N_USERS, N_ITEMS, n_factors=6, hidden_layers=(10, 6, 4))
    for p in net.parameters():
        torch.nn.init.normal_(p, std=0.5)
    users, items = torch.tensor([0, 3, 3, 12, 7, 0]), torch.tensor([1, 1, 28, 5, 9, 14])
    extra = _loss_extra(loss, len(users))
    module = NCFModule(net, weight_decay=0.3, loss=loss, n_negatives=4)
    tables = [m for m in net.modules() if isinstance(m, torch.nn.Embedding)]
    calls: list[int] = []
    for table in tables:
        table.register_forward_hook(lambda m, i, o: calls.append(len(i[0])))

    torch.manual_seed(5)  # the iALS loss of NeuMF and the MLP samples catalogue items
    got = module._loss(users, items, extra)
    got_grads = torch.autograd.grad(got, list(net.parameters()), allow_unused=True)
    # lookups of the batch's own rows (sampled items, negatives and score_all aside)
    lookups_once = sum(1 for c in calls if c == len(users))
    calls.clear()

    torch.manual_seed(5)
    args = (net, users, items, extra, None) + ((4,) if loss == "ials" else ())
    want = module.loss_fn(*args) + 0.3 * sum(
        e.pow(2).sum() for e in net.embeddings(users, items)
    ) / len(users)
    want_grads = torch.autograd.grad(want, list(net.parameters()), allow_unused=True)
    torch.testing.assert_close(got, want)
    for a, b in zip(got_grads, want_grads, strict=True):
        assert (a is None) == (b is None)
        if a is not None:
            torch.testing.assert_close(a, b)
    # the formula looks each penalised table up a second time; the step does not
    lookups_formula = sum(1 for c in calls if c == len(users))
    assert lookups_formula - lookups_once == (4 if model == "neumf" else 2)


def _two_steps(optimizer: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """GMF user rows before training, after a step on users 0-1, after a step on users 2-3."""
    torch.manual_seed(0)
    net = GMF(N_USERS, N_ITEMS, 4)
    module = NCFModule(net, learning_rate=0.1, step_batch_size=2, optimizer=optimizer)
    config = module.configure_optimizers()
    optimizers = config if isinstance(config, list) else [config]
    start = net.user_embedding.weight.detach().clone()
    states = []
    for users in ([0, 1], [2, 3]):
        for o in optimizers:
            o.zero_grad()
        loss = module._loss(torch.tensor(users), torch.tensor([5, 6]), torch.tensor([1.0, 0.0]))
        loss.backward()
        for o in optimizers:
            o.step()
        states.append(net.user_embedding.weight.detach().clone())
    return start, states[0], states[1]


def test_lazy_adam_moves_only_the_rows_of_the_batch():
    start, first, second = _two_steps("lazy_adam")
    changed = (first != start).any(1)
    assert changed[:2].all() and not changed[2:].any()
    # the second step touches users 2-3 only: users 0-1 keep their rows (no momentum drift)
    assert torch.equal(second[:2], first[:2]) and not torch.equal(second[2:4], first[2:4])
    assert torch.equal(second[4:], start[4:])


def test_adam_keeps_moving_rows_by_momentum():
    start, first, second = _two_steps("adam")
    assert not torch.equal(second[:2], first[:2])  # users 0-1 move on, by momentum alone
    assert torch.equal(second[4:], start[4:])  # never-seen rows have zero moments


def test_lazy_adam_splits_sparse_embeddings_from_dense_layers():
    net = NeuMF(N_USERS, N_ITEMS, 4, (8, 4))
    module = NCFModule(net, step_batch_size=8, optimizer="lazy_adam")
    sparse_opt, dense_opt = module.configure_optimizers()
    sparse = {id(p) for g in sparse_opt.param_groups for p in g["params"]}
    dense = {id(p) for g in dense_opt.param_groups for p in g["params"]}
    embeddings = {id(m.weight) for m in net.modules() if isinstance(m, torch.nn.Embedding)}
    assert sparse == embeddings and not sparse & dense
    assert all(m.sparse for m in net.modules() if isinstance(m, torch.nn.Embedding))
    with pytest.raises(ValueError, match="pass step_batch_size"):
        NCFModule(net, optimizer="lazy_adam")
    with pytest.raises(ValueError, match="optimizer must be one of"):
        NCFModule(net, step_batch_size=8, optimizer="sgd")


def test_networks_import_no_lightning():
    """The networks are plain torch: importing them (or a recommender base) loads no Lightning."""
    import subprocess
    import sys

    code = (
        "import sys, implicit_ncf.networks, implicit_ncf.batches, implicit_ncf.recommender, "
        "implicit_ncf.popularity, implicit_ncf.estimator, implicit_ncf.model_file, "
        "implicit_ncf.losses, implicit_ncf.foldin, implicit_ncf.similarity, "
        "implicit_ncf.evaluation, implicit_ncf.hyperparameters, implicit_ncf.optim, "
        "implicit_ncf.incremental; "
        "print(sorted(m for m in sys.modules if 'lightning' in m))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("output", ["fixed", "learned"])
def test_gmf_output_fixed_gets_no_gradient(output):
    torch.manual_seed(0)
    net = GMF(N_USERS, N_ITEMS, 4, output=output)
    net(torch.tensor([0, 1]), torch.tensor([2, 3])).sum().backward()
    assert (net.output.weight.grad is None) == (output == "fixed")
    assert net.output.bias.grad is not None  # the bias is learned either way
    assert torch.equal(net.output.weight, torch.ones(1, 4))


def test_learned_gmf_output_lets_rescaling_escape_the_penalty():
    """Why "fixed" exists: with a learned h, h * c**2 and embeddings / c keep every logit and
    cut the L2 penalty by c**2; with h fixed that rescaling is not available."""
    torch.manual_seed(0)
    net = GMF(N_USERS, N_ITEMS, 4, output="learned")
    u, i = torch.tensor([0, 1, 2]), torch.tensor([3, 4, 5])
    with torch.no_grad():
        before = net(u, i)
        penalty = sum(e.pow(2).sum() for e in net.embeddings(u, i))
        c = 3.0
        net.user_embedding.weight /= c
        net.item_embedding.weight /= c
        net.output.weight *= c**2
        torch.testing.assert_close(net(u, i), before)
        rescaled = sum(e.pow(2).sum() for e in net.embeddings(u, i))
    torch.testing.assert_close(rescaled, penalty / c**2)


def test_gmf_output_is_checked_and_reaches_neumf_tower():
    with pytest.raises(ValueError, match="output must be one of"):
        GMF(N_USERS, N_ITEMS, 4, output="frozen")
    net = build_network("neumf", N_USERS, N_ITEMS, n_factors=4, hidden_layers=(8, 4))
    assert net.gmf.output.weight.requires_grad  # build_network's default: the paper's GMF
    net = build_network(
        "neumf", N_USERS, N_ITEMS, n_factors=4, hidden_layers=(8, 4), gmf_output="fixed"
    )
    assert not net.gmf.output.weight.requires_grad
