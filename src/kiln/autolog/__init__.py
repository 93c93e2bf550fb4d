"""Automatic logging of training calls: ``kiln.autolog()``.

::

    kiln.autolog(...)  ─►  _api.py       options into _state.py; for each installed
                                         flavor, import it and patch (_patch.py)
                              │
          _sklearn.py   fit / fit_transform / fit_predict of every estimator class
          _xgboost.py   xgboost.train, XGBModel.fit and subclasses
          _lightgbm.py  lightgbm.train, LGBMModel.fit and subclasses
                              │  each patched call:
                              ▼
          _session.py   begin(): pick the run (new, the user's, or a child), hold the
                        "inside an autologged call" mark, end the run it started
          _common.py    params, metric histories, datasets, models, valid keys

Importing this package imports no ML library and patches nothing; only
calling ``kiln.autolog()`` does. ``kiln.autolog.disable()`` puts every
original back. Logging never breaks a fit: a failure is an
:class:`AutologWarning` (once per kind) and the fit's result is returned.
See docs/autolog.md.
"""

from __future__ import annotations

from kiln.autolog import _api
from kiln.autolog._api import Autolog, autolog, disable
from kiln.autolog._state import AutologWarning

__all__ = ["Autolog", "AutologWarning", "autolog", "disable"]

_api.make_callable(__name__)
