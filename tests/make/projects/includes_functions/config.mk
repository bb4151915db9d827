PROJECT := ripple_demo
LANGS = en de
