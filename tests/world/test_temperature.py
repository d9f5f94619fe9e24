"""Temperature: normal climate, the day's anomaly, storm cooling, and the loads' response."""

from datetime import datetime

import numpy as np

from twin.grid.schema import CustomerClass
from twin.world.clock import Calendar
from twin.world.temperature import Temperature, TemperatureParameters, normal_c, weather_factor
from twin.world.weather import builtin_storm


def test_normal_climate_is_warm_in_summer_afternoons():
    p = TemperatureParameters()
    assert normal_c(p.warmest_day, p.warmest_hour, p) == p.mean_c + p.seasonal_c + p.diurnal_c
    assert normal_c(p.warmest_day + 183, p.warmest_hour - 12, p) < p.mean_c - p.seasonal_c - p.diurnal_c + 0.1


def test_loads_move_only_with_the_departure_from_normal():
    p = TemperatureParameters()
    classes = np.array([int(c) for c in (CustomerClass.residential, CustomerClass.commercial, CustomerClass.industrial)])
    assert np.allclose(weather_factor(classes, np.array(31.0), np.array(31.0), p), 1.0)  # normal weather: profiles
    hot = weather_factor(classes, np.array(33.0), np.array(28.0), p)
    assert hot[0] > hot[1] > hot[2] > 1.0  # residential air conditioning is the most sensitive
    cold = weather_factor(classes, np.array(-5.0), np.array(0.0), p)
    assert np.all(cold > 1.0)
    mild = weather_factor(classes, np.array(16.0), np.array(17.0), p)  # between heating and cooling
    assert np.allclose(mild, 1.0)


def test_a_thunderstorm_cools_the_afternoon_and_the_anomaly_replays():
    cal = Calendar(datetime(2026, 7, 20, 12, 0))
    storm = builtin_storm("thunderstorm", (0.0, 0.0, 20_000.0, 20_000.0), start_s=3600.0)
    plain = Temperature(cal, np.random.default_rng(3))
    stormy = Temperature(cal, np.random.default_rng(3), storm=storm, centre_xy=(10_000.0, 10_000.0))
    peak = storm.start_s + 1.5 * 3600.0  # over the centre
    assert plain.at(peak) - stormy.at(peak) > 5.0
    assert plain.at(0.0) == stormy.at(0.0)
    again = Temperature(cal, np.random.default_rng(3))
    times = np.linspace(0.0, 5 * 86400.0, 50)
    assert [plain.at(t) for t in times] == [again.at(t) for t in times]
    departures = np.array([plain.at(t) - plain.normal(t) for t in np.arange(0, 30) * 86400.0])
    assert 0.5 < departures.std() < 6.0  # days differ, within a climate's range


def test_the_load_model_draws_the_weathers_share():
    from twin.world.environment import World
    from twin.world.loads import LoadModel
    from twin.world.territory import generate_territory

    net = generate_territory(400, seed=2)
    plain = LoadModel(World(net, seed=1))
    world = World(net, seed=1)
    temperature = Temperature(world.calendar, np.random.default_rng(8))
    warm = LoadModel(world, temperature=temperature)
    t = 15 * 3600.0
    expected = weather_factor(warm.classes, np.asarray(temperature.at(t)), np.asarray(temperature.normal(t)),
                              temperature.params)
    assert np.allclose(warm.scale(t), plain.scale(t) * expected)
    assert not np.allclose(expected, 1.0)
