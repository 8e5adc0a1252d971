"""Two chapters' text for the word finder and `narrate words`: names, uncommon words, acronyms and numbers with
units, sentence starts and titles that are none of them."""

from __future__ import annotations

PRIVET_DRIVE = (
    "Mr. Dursley drove to work. He thought of the Potters and of Hermione, who was at Hogwarts.\n\n"
    "Quidditch was played at Hogwarts. Hermione's owl flew 5 km to the BBC; NASA paid £20 for 12kg of 3.5 GHz chips,"
    " a 10% cut.\n\n"
    'Zounds, the owl was fast. "Look!" said Harry. Then he said, "Well, fine."'
    " Hermione laughed at the Weasleys' car.\n\n"
    "CHAPTER IV THE END"
)

SECOND = (
    "The Dursleys lived on Privet Drive, wrote J. K. Rowling. Harry met Weasley's brother near the BBC studio"
    " on page 169."
)
