"""The experiments behind `ganlab theory`: each claim of the paper computed, drawn and described.

One module per item (listed in ganlab.theory.command.ITEMS, in the report's order), each in
three parts kept apart:

    compute_<item>(quick) -> the item's numbers (a dataclass of tensors, arrays and floats;
                             no matplotlib)
    plot_<item>(result, out) -> the file names of the figures it wrote into out
    describe_<item>(result) -> a Description: title, equation, claim, numbers for theory.json

and ``run_<item>(out: Path, quick: bool) -> dict`` composes the three into an ItemResult:

    {"name": str, "title": str, "equation": str, "claim": str,
     "figures": [file names relative to out], "numbers": {json-able numbers behind the figures}}

Items: optimal_discriminator (Proposition 1), virtual_criterion (Theorem 1), figure1, saturation
(section 3), loss_objectives (what each G loss minimises), divergence_fits (kl_directions:
forward vs reverse KL), xy_game (gradient play), mode_collapse, objectives (what each objective
after 2014 minimises: objectives, objectives_optimum, objectives_training), dirac_gan (which
training methods converge: dirac_gan, dirac_gan_dynamics). Shared pieces: description
(Description), learned_discriminator (D trained against a frozen G), snapshots (recording real
training runs), command (`ganlab theory`: theory.json and index.html).
"""
