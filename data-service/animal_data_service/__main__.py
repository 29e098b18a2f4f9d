"""`python -m animal_data_service run ...`: same as the `animal-data-service` console script."""

from animal_data_service.cli import main

main()
