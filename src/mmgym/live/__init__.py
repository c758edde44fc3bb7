"""Live market data and paper trading: one symbol's order book and trades streamed from an
exchange (:mod:`mmgym.live.stream`, ccxt's websocket API), in the event format of
:mod:`mmgym.data.schema`, and a policy trading on it on paper (:mod:`mmgym.live.engine`:
fills simulated with the ``replay`` market's queue rules, :mod:`mmgym.live.market`).
Nothing here sends an order.

:mod:`mmgym.live.source` defines what the engine consumes (an
:class:`~mmgym.live.source.EventSource`), :mod:`mmgym.live.clock` its clocks,
:mod:`mmgym.live.jsonl` the run's stream in ``mmgym-record``'s format.
"""
