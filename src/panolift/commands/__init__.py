"""The CLI layer: one module per subcommand. Only these modules print or draw progress bars.

Commands import the library inside their functions: `panolift --help` then starts in a fraction of a
second instead of loading torch, scipy and trimesh first. (Library modules never do this.)
"""
